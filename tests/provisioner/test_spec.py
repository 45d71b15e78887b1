"""HZG.md and its vectors hold together: every rule has vectors, every MUST a rule.

Rules are the identifiers in bold brackets (``**[magic]**``); index.json
names the rule each vector tests. A rule a reader enforces needs a vector
it must refuse; a rule that says what a reader must accept needs one it must
accept.
"""

from __future__ import annotations

import re

from tests.conftest import ROOT, load_index

SPEC = (ROOT / "format_spec" / "HZG.md").read_text()
BODY = SPEC.split("## Appendix")[0]
RULE = re.compile(r"\*\*\[([a-z0-9-]+)\]\*\*")
# Rules about what a reader must accept: their vectors are valid bundles.
ACCEPTANCE = {"accept-valid", "minor-any", "minor-newer-ignored"}
INDEX = load_index()


def spec_rules() -> set[str]:
    return set(RULE.findall(BODY))


def test_every_vector_names_a_rule_of_the_spec():
    unknown = {v["rule"] for v in INDEX["vectors"]} - spec_rules()
    assert not unknown, f"vectors name rules the spec does not define: {sorted(unknown)}"


def test_every_rule_has_a_vector():
    refused = {v["rule"] for v in INDEX["vectors"] if v["expect"] != "ok"}
    accepted = {v["rule"] for v in INDEX["vectors"] if v["expect"] == "ok"}
    rules = spec_rules()
    missing = sorted(r for r in rules - ACCEPTANCE if r not in refused)
    assert not missing, f"rules without a vector a reader must refuse: {missing}"
    missing = sorted(r for r in ACCEPTANCE if r not in accepted)
    assert not missing, f"acceptance rules without a valid vector: {missing}"
    assert ACCEPTANCE <= rules


def test_every_must_carries_a_rule():
    """Each paragraph that tells readers MUST names the rule(s) it states."""
    paragraphs = re.split(r"\n\s*\n", BODY)
    bare = []
    for paragraph in paragraphs:
        if paragraph.startswith("The key words"):
            continue
        musts = [m for m in re.finditer(r"\bMUST\b", paragraph)
                 if not paragraph[max(0, m.start() - 8):m.start()].endswith("Writers ")]
        if musts and not RULE.search(paragraph):
            bare.append(paragraph.strip()[:100])
    assert not bare, "paragraphs with a MUST and no rule identifier:\n" + "\n".join(bare)


def test_rule_identifiers_are_unique_where_defined():
    # a rule may be named again where it is used; it is defined once in a list
    # item or sentence of its own section, so just check the format
    for rule in spec_rules():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9^]+)*", rule), rule
