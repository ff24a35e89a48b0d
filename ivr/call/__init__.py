"""What happens on a call, as pure functions of plain data: no Redis, no Flask, no Twilio library, no clock."""
