"""ivr graph: a flow drawn as Mermaid text or SVG, with every node, option, route and the zero-out."""

from __future__ import annotations

import re
import shutil
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.flows.directory import load_directory
from ivr.flows.load import load_flow
from ivr.flows.model import PASSES_ON, Menu
from ivr.flows.timing import time_to_human
from ivr.tools.cli import main
from ivr.tools.graph import PERSON, mermaid, mermaid_text, render, svg

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "flows"
EXAMPLE = load_flow(FLOWS / "support.yaml", load_directory(FLOWS / "agents.yaml"))
SVG = "{http://www.w3.org/2000/svg}"


def run(*args, env=None):
    return CliRunner().invoke(main, ["graph", *map(str, args)], env=env, catch_exceptions=False)


def drawn(flow=EXAMPLE, fmt="mermaid") -> str:
    return render(flow, time_to_human(flow), fmt)


def test_the_mermaid_diagram_has_every_node_option_and_zero_out():
    text = drawn()
    assert text.startswith("flowchart TD\n")
    for node in EXAMPLE.nodes.values():
        assert re.search(rf"^    n_{node.id}\W.*\"{node.id}<br/>", text, re.M), node.id
        if isinstance(node, Menu):
            for option in node.options:
                label = mermaid_text(f"{option.key}: {', '.join(option.words)}")
                assert f'    n_{node.id} -->|"{label}"| n_{option.next}\n' in text
        elif isinstance(node, PASSES_ON):
            assert f"    n_{node.id} --> n_{node.next}\n" in text
    # the zero-out: every menu, dotted, labelled 0, to the person its 0 reaches
    people = dict(re.findall(r'^    (person_\d+)\(\("a person #40;0 / agent#41;<br/>group (\w+)"\)\)$', text, re.M))
    assert people == {"person_1": "general", "person_2": "billing"}
    zeros = re.findall(r'^    n_(\w+) -\.->\|"0"\| (person_\d+)$', text, re.M)
    assert sorted((menu, people[person]) for menu, person in zeros) == [
        ("anything_else", "general"),
        ("billing", "billing"),
        ("welcome", "general"),
    ]


def test_routes_have_their_own_shape_and_name_who_they_ring_and_nodes_carry_their_times():
    text = drawn()
    assert 'n_moving[["moving<br/>route to group moving<br/>reached at 24.8 s, person by 29.6 s"]]' in text
    assert 'n_welcome{{"welcome<br/>menu<br/>reached at 0.0 s, person by 27.2 s<br/>0 offered at 4.8 s"}}' in text
    assert 'n_goodbye(["goodbye<br/>goodbye<br/>reached at 53.6 s, call ends"])' in text
    assert "class n_billing_team,n_technical_team,n_moving,n_cancellation_team route" in text


def test_labels_are_escaped_for_mermaid(tmp_path):
    shutil.copy(FLOWS / "agents.yaml", tmp_path)
    (tmp_path / "odd.yaml").write_text(
        "name: 'odd \"line\" [1]'\nstart: end\nsettings:\n  operator: {agent: alex}\nnodes:\n"
        "  end:\n    type: menu\n    say: Hi.\n    options:\n"
        '      - key: "#"\n        words: [\'say "yes" (or [no]) {now} | <b>&amp;\']\n        next: x-1\n'
        "  x-1:\n    type: goto\n    next: end\n"
    )
    flow = load_flow(tmp_path / "odd.yaml", load_directory(tmp_path / "agents.yaml"))
    text = drawn(flow)
    assert (
        'n_end -->|"#35;: say #quot;yes#quot; #40;or #91;no#93;#41; #123;now#125; #124; #60;b#62;#38;amp;"| n_x_1'
    ) in text
    assert "n_x_1 --> n_end" in text  # ids are safe words ("end" is a Mermaid keyword; '-' is an arrow)
    assert "odd #quot;line#quot; #91;1#93;" in text
    for line in text.splitlines()[2:]:
        assert line.count('"') % 2 == 0, line
        for quoted in re.findall(r'"([^"]*)"', line):  # nothing in a label that Mermaid would read; <br/> breaks lines
            assert not any(ch in quoted.replace("<br/>", "") for ch in '[]{}()<>|`"'), line
    assert 'person_1(("a person #40;0 / agent#41;<br/>agent alex"))' in text
    assert mermaid_text('a "b"\n  c') == "a #quot;b#quot; c"


def test_the_svg_is_well_formed_with_one_box_per_node():
    text = drawn(fmt="svg")
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    boxes = [g for g in root.iter(f"{SVG}g") if g.get("class", "").split()[0] == "node"]
    assert sorted(g.get("id") for g in boxes) == sorted(f"node-{n}" for n in EXAMPLE.nodes)
    people = [g for g in root.iter(f"{SVG}g") if g.get("class") == "person"]
    assert [[t.text for t in g.iter(f"{SVG}text")] for g in people] == [
        [PERSON, "group general"],
        [PERSON, "group billing"],
    ]
    kinds = {g.get("id")[5:]: g.get("class").split()[1] for g in boxes}
    assert kinds == {n.id: n.kind for n in EXAMPLE.nodes.values()}
    texts = [t.text for g in boxes for t in g.iter(f"{SVG}text")]
    assert "reached at 24.8 s, person by 29.6 s" in texts and "route to group moving" in texts
    edges = [(p.get("data-from"), p.get("data-to")) for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert ("billing", "welcome") in edges and ("welcome", "person-1") in edges and len(edges) == 14
    labels = " ".join(" ".join(t.itertext()) for t in root.iter(f"{SVG}text") if t.get("class") == "label")
    assert "1: billing, bill, payment, payments, charge" in labels and "*: back, main menu" in labels


def test_svg_boxes_do_not_overlap():
    root = ET.fromstring(drawn(fmt="svg"))
    rects = []
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "legend":
            continue
        shape = next(iter(g))
        if shape.tag == f"{SVG}rect":
            x, y, w, h = (float(shape.get(k)) for k in ("x", "y", "width", "height"))
        else:
            cx, cy, rx, ry = (float(shape.get(k)) for k in ("cx", "cy", "rx", "ry"))
            x, y, w, h = cx - rx, cy - ry, 2 * rx, 2 * ry
        rects.append((x, y, w, h))
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            apart = a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]
            assert apart, (a, b)


def test_the_command_by_file_or_line_name_to_stdout_or_a_file(tmp_path):
    by_file = run(FLOWS / "support.yaml")
    assert by_file.exit_code == 0 and by_file.output == drawn()
    by_name = run("riverlink-support", env={"FLOWS_DIR": str(FLOWS)})
    assert by_name.output == by_file.output
    assert run(FLOWS / "support.yaml").output == by_file.output  # stable
    picture = tmp_path / "flow.svg"
    assert run("riverlink-support", "-o", picture, env={"FLOWS_DIR": str(FLOWS)}).exit_code == 0
    assert picture.read_text(encoding="utf-8") == drawn(fmt="svg")  # the format follows the file name
    text = tmp_path / "flow.txt"
    assert run(FLOWS / "support.yaml", "-o", text, "--format", "mermaid").exit_code == 0
    assert text.read_text(encoding="utf-8") == drawn()
    unknown = CliRunner().invoke(main, ["graph", "nope"], env={"FLOWS_DIR": str(FLOWS)})
    assert unknown.exit_code != 0 and "no flow file or line named 'nope'" in unknown.output
    assert "riverlink-support" in unknown.output


def test_the_readme_and_docs_show_what_the_command_draws():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```mermaid\n(.*?)^```$", readme, re.S | re.M)
    assert blocks == [drawn()], "run: .venv/bin/ivr graph flows/support.yaml, and paste it into the README"
    assert (ROOT / "docs" / "example-flow.mmd").read_text(encoding="utf-8") == drawn()
    assert (ROOT / "docs" / "example-flow.svg").read_text(encoding="utf-8") == drawn(fmt="svg"), (
        "run: .venv/bin/ivr graph flows/support.yaml -o docs/example-flow.svg"
    )


@pytest.mark.parametrize("fmt", ["mermaid", "svg"])
def test_render_is_pure_and_repeatable(fmt):
    timing = time_to_human(EXAMPLE)
    once = mermaid(EXAMPLE, timing) if fmt == "mermaid" else svg(EXAMPLE, timing)
    assert render(EXAMPLE, timing, fmt) == once == render(EXAMPLE, time_to_human(EXAMPLE), fmt)
    with pytest.raises(ValueError, match="unknown format"):
        render(EXAMPLE, timing, "gif")


def _points(d: str, steps: int = 40) -> list[tuple[float, float]]:
    """Points along an SVG path made of M, L, H, V and C commands, every segment sampled."""
    tokens = re.findall(r"[MLHVC]|-?\d+(?:\.\d+)?", d)
    points, x, y, i = [], 0.0, 0.0, 0
    while i < len(tokens):
        command = tokens[i]
        if command in "ML":
            nx, ny = float(tokens[i + 1]), float(tokens[i + 2])
            i += 3
        elif command == "H":
            nx, ny = float(tokens[i + 1]), y
            i += 2
        elif command == "V":
            nx, ny = x, float(tokens[i + 1])
            i += 2
        else:  # C: a cubic Bezier curve
            c = [float(v) for v in tokens[i + 1 : i + 7]]
            for n in range(steps + 1):
                t = n / steps
                points.append(
                    (
                        (1 - t) ** 3 * x + 3 * (1 - t) ** 2 * t * c[0] + 3 * (1 - t) * t**2 * c[2] + t**3 * c[4],
                        (1 - t) ** 3 * y + 3 * (1 - t) ** 2 * t * c[1] + 3 * (1 - t) * t**2 * c[3] + t**3 * c[5],
                    )
                )
            x, y, i = c[4], c[5], i + 7
            continue
        if command == "M":
            points.append((nx, ny))
        else:
            points += [(x + (nx - x) * n / steps, y + (ny - y) * n / steps) for n in range(steps + 1)]
        x, y = nx, ny
    return points


def test_no_arrow_runs_through_its_own_label():
    root = ET.fromstring(drawn(fmt="svg"))
    paths = {(p.get("data-from"), p.get("data-to")): p.get("d") for p in root.iter(f"{SVG}path") if p.get("data-from")}
    grounds = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "label-ground"]
    assert len(grounds) >= 10, "every option and every 0 is labelled"
    for ground in grounds:
        x, y = float(ground.get("x")), float(ground.get("y"))
        w, h = float(ground.get("width")), float(ground.get("height"))
        edge = (ground.get("data-from"), ground.get("data-to"))
        inside = [(px, py) for px, py in _points(paths[edge]) if x < px < x + w and y < py < y + h]
        assert inside == [], f"the arrow {edge[0]} -> {edge[1]} crosses its own label at {inside[:3]}"


def test_the_picture_has_a_key_to_its_shapes_and_arrows():
    root = ET.fromstring(drawn(fmt="svg"))
    legend = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "legend")
    words = " ".join(t.text or "" for t in legend.iter(f"{SVG}text"))
    for meaning in ("menu", "message", "go to", "goodbye", "route: rings a person", "a person (0 / agent)"):
        assert meaning in words
    assert "0 or agent" in words and "a choice" in words and "far from a person" in words
    assert len([e for e in legend if e.tag in (f"{SVG}rect", f"{SVG}ellipse")]) >= 7


def test_a_png_is_a_real_png_and_an_unknown_ending_is_refused(tmp_path):
    out = tmp_path / "flow.png"
    result = CliRunner().invoke(main, ["graph", str(FLOWS / "support.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    root = ET.fromstring(drawn(fmt="svg"))
    assert (width, height) == (round(float(root.get("width"))), round(float(root.get("height"))))
    jpeg = CliRunner().invoke(main, ["graph", str(FLOWS / "support.yaml"), "-o", str(tmp_path / "flow.jpg")])
    assert jpeg.exit_code != 0 and "end it in .svg, .png or .mmd" in jpeg.output
    assert not (tmp_path / "flow.jpg").exists()
    printed = CliRunner().invoke(main, ["graph", str(FLOWS / "support.yaml"), "--format", "png"])
    assert printed.exit_code != 0 and "-o flow.png" in printed.output
