"""`python -m ivr.dispatcher`: run the worker."""

from ivr.dispatcher.worker import main

main()
