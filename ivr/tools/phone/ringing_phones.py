"""The phones a <Dial> rings, named from the line's directory so `answer alex` can pick one."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ivr.flows.directory import Agent, Directory
from ivr.tools.phone.twiml import Doc

if TYPE_CHECKING:
    from ivr.tools.phone.call import Phone


@dataclass(frozen=True)
class Ringing:
    """One phone a <Dial> rings."""

    kind: str  # Number or Client
    target: str
    url: str | None  # the whisper, fetched on the agent's leg when they pick up
    agent: Agent | None

    @property
    def id(self) -> str:
        return self.agent.id if self.agent else self.target

    @property
    def name(self) -> str:
        return self.agent.name if self.agent else self.target

    @property
    def label(self) -> str:
        where = self.target if self.kind == "Number" else f"client {self.target}"
        return f"{self.agent.name} ({where})" if self.agent else where

    @property
    def address(self) -> str:
        return self.target if self.kind == "Number" else f"client:{self.target}"

    def matches(self, who: str) -> bool:
        who = who.casefold()
        if who in (self.target.casefold(), self.address.casefold()):
            return True
        agent = self.agent
        return bool(agent) and (
            who in (agent.id, agent.name.casefold(), agent.role, f"{agent.role}s") or who in agent.groups
        )


def phones_rung(phone: Phone, dial: ET.Element, doc: Doc) -> list[Ringing]:
    directory = phone.known.directory
    rings = []
    for noun in dial:
        if noun.tag == "Number":
            target = (noun.text or "").strip()
            agent = _agent(directory, "number", target)
        elif noun.tag == "Client":
            identity = noun.find("Identity")
            target = ((identity.text if identity is not None else noun.text) or "").strip()
            agent = _agent(directory, "client", target)
        else:
            phone.out.line("phone", f"<Dial><{noun.tag}> is not something this phone can ring: skipped")
            continue
        rings.append(Ringing(noun.tag, target, doc.resolve(noun.get("url")) if noun.get("url") else None, agent))
    if not rings and (dial.text or "").strip():
        number = dial.text.strip()
        rings.append(Ringing("Number", number, None, _agent(directory, "number", number)))
    return rings


def _agent(directory: Directory | None, attribute: str, value: str) -> Agent | None:
    """The person whose number (or client identity) this is, when the directory knows them."""
    if not directory:
        return None
    return next((a for a in directory.agents.values() if getattr(a, attribute) == value), None)
