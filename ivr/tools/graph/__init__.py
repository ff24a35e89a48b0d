"""Pictures of a flow for ops staff: Mermaid text or SVG, and finding the flow to draw."""

from __future__ import annotations

from pathlib import Path

from ivr.errors import FlowError
from ivr.flows.catalog import AGENTS_FILE, flow_files
from ivr.flows.directory import load_directory
from ivr.flows.load import load_flow
from ivr.flows.model import Flow
from ivr.flows.timing import FlowTiming
from ivr.tools.graph.drawing import PERSON
from ivr.tools.graph.mermaid import mermaid, mermaid_text
from ivr.tools.graph.svg import svg

FORMATS = ("mermaid", "svg", "png")
BY_SUFFIX = {".mmd": "mermaid", ".mermaid": "mermaid", ".md": "mermaid", ".svg": "svg", ".png": "png"}
__all__ = ["BY_SUFFIX", "FORMATS", "PERSON", "find_flow", "mermaid", "mermaid_text", "png", "render", "svg"]


class PictureError(Exception):
    """A picture that cannot be made here, said plainly."""


def find_flow(ref: str, flows_dir: Path) -> tuple[Flow, Path]:
    """A flow by file path or by line name (in FLOWS_DIR), with the folder its audio paths start from."""
    path = Path(ref)
    if path.is_file():
        return load_flow(path, load_directory(path.parent / AGENTS_FILE)), path.parent
    directory = load_directory(flows_dir / AGENTS_FILE)
    names = []
    for candidate in flow_files(flows_dir):
        try:
            flow = load_flow(candidate, directory)
        except FlowError:
            continue  # a broken file is `ivr check`'s business; it is not the one asked for unless named
        if flow.name == ref or candidate.stem == ref:
            return flow, flows_dir
        names.append(flow.name)
    raise LookupError(f"no flow file or line named '{ref}' in {flows_dir} (lines: {', '.join(names) or 'none'})")


def render(flow: Flow, timing: FlowTiming, fmt: str) -> str | bytes:
    """The picture in FMT: Mermaid or SVG text, or PNG bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if fmt == "mermaid":
        return mermaid(flow, timing)
    return png(svg(flow, timing)) if fmt == "png" else svg(flow, timing)


def png(picture: str) -> bytes:
    """The SVG drawn to a PNG by cairosvg, which needs the Cairo library of the system (libcairo2)."""
    try:
        import cairosvg
    except (ImportError, OSError) as exc:  # OSError: the package is there, the Cairo library is not
        raise PictureError(
            f"a PNG needs the Cairo library ({exc}); write an .svg instead, which any browser shows"
        ) from exc
    return cairosvg.svg2png(bytestring=picture.encode("utf-8"))
