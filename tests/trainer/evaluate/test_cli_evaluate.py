"""``hzg evaluate``: a signed bundle and two real tables in, a report and JSON out."""

from __future__ import annotations

import json

import pytest

from provisioner.cli import main


@pytest.fixture(scope="module")
def setup(tmp_path_factory, trained, adult_small):
    from provisioner.keys import load_signing_key, write_key_pair

    folder = tmp_path_factory.mktemp("evaluate")
    paths = write_key_pair("owner", folder)
    trained[0].save(folder / "model.hzg", load_signing_key(paths.private_key))
    adult_small.iloc[:2000].to_csv(folder / "train.csv", index=False)
    adult_small.iloc[2000:].to_csv(folder / "holdout.csv", index=False)
    return folder, paths.public_key


@pytest.mark.slow
def test_report_and_json_are_written_and_agree(setup, capsys):
    folder, pub = setup
    args = ["evaluate", str(folder / "model.hzg"), "--trust", str(pub),
            "--real", str(folder / "train.csv"), "--holdout", str(folder / "holdout.csv"),
            "--target", "income", "--sensitive", "sex", "--quasi-identifiers", "age,sex,race",
            "-o", str(folder / "report.html"), "--json", str(folder / "metrics.json"),
            "--rows", "1000", "--attacks", "100"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "NOT differentially private" in captured.err
    assert captured.out.splitlines()[0].startswith("good   Differential privacy")
    metrics = json.loads((folder / "metrics.json").read_text())
    page = (folder / "report.html").read_text()
    assert metrics["rows"] == {"train": 2000, "holdout": 1000, "synthetic": 1000}
    assert metrics["privacy"]["dp"] is True
    value = json.dumps(metrics["distance"]["mia_auc"])
    assert f'data-metric="[&quot;distance&quot;, &quot;mia_auc&quot;]" data-value="{value}"' \
        in page
    # nothing is overwritten without --force
    assert main(args) == 1
    assert "already exists" in capsys.readouterr().err


@pytest.mark.slow
def test_bad_columns_are_one_line(setup, capsys):
    folder, pub = setup
    assert main(["evaluate", str(folder / "model.hzg"), "--trust", str(pub),
                 "--real", str(folder / "train.csv"), "--holdout", str(folder / "holdout.csv"),
                 "--target", "salary", "-o", str(folder / "r2.html")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'salary'" in err[0]
    assert not (folder / "r2.html").exists()


def test_sweep_epsilons_are_parsed_strictly():
    from provisioner.errors import ConfigError
    from trainer.evaluate.sweep import parse_epsilons

    assert parse_epsilons("2, 0.5,1") == [0.5, 1.0, 2.0]
    for bad in ("", "1,x", "0,1", "1,1", "-2"):
        with pytest.raises(ConfigError):
            parse_epsilons(bad)


@pytest.mark.slow
def test_sweep_trains_at_each_epsilon_and_adds_up_the_budget(setup, capsys):
    folder, _ = setup
    config = folder / "tiny.toml"
    config.write_text("epochs = 2\nhidden = [8]\nfine_cells = 40\n")
    out, metrics = folder / "sweep.html", folder / "sweep.json"
    assert main(["evaluate", "--sweep", "1,3", "--data", str(folder / "train.csv"),
                 "--config", str(config), "--real", str(folder / "train.csv"),
                 "--holdout", str(folder / "holdout.csv"), "--target", "income",
                 "--rows", "400", "--attacks", "50", "-o", str(out), "--json",
                 str(metrics)]) == 0
    printed = capsys.readouterr().out
    plain = json.loads(metrics.read_text())
    assert [p["epsilon"] for p in plain["points"]] == [1.0, 3.0]
    spent = [p["spent_epsilon"] for p in plain["points"]]
    assert all(s <= e * (1 + 1e-9) for s, e in zip(spent, [1.0, 3.0]))
    assert plain["total_epsilon"] == pytest.approx(sum(spent))
    assert f"total spent  epsilon {plain['total_epsilon']:.4g}" in printed
    page = out.read_text()
    assert "the budgets add up" in plain["composition"] and "<img" in page
    assert "spent its own budget on the same people" in page


@pytest.mark.slow
def test_embed_summary_writes_a_signed_copy_with_a_separate_non_dp_section(setup, capsys):
    from provisioner import TrustedKey, TrustStore, decode_bundle
    from provisioner.keys import load_signing_key

    folder, pub = setup
    copy = folder / "with-summary.hzg"
    assert main(["evaluate", str(folder / "model.hzg"), "--trust", str(pub),
                 "--real", str(folder / "train.csv"), "--holdout", str(folder / "holdout.csv"),
                 "--target", "income", "--rows", "800", "--attacks", "50",
                 "-o", str(folder / "r3.html"),
                 "--embed-summary", str(copy), "--key", str(folder / "owner.key")]) == 0
    assert "NOT DP" in capsys.readouterr().out
    key = load_signing_key(folder / "owner.key")
    original = decode_bundle((folder / "model.hzg").read_bytes(),
                             trust=TrustStore([TrustedKey(key.public_key, "owner", "t")]))
    opened = decode_bundle(copy.read_bytes(),
                           trust=TrustStore([TrustedKey(key.public_key, "owner", "t")]))
    stats = opened.header.source_statistics
    assert stats["dp"] is False and "NOT differentially private" in stats["notice"]
    assert 0.0 <= stats["metrics"]["mia_auc"] <= 1.0
    assert "target.synthetic_score" in stats["metrics"]
    # the rest of the bundle is the same generator, its privacy statement untouched
    assert opened.header.privacy == original.header.privacy
    assert opened.header.generator == original.header.generator
    assert original.header.source_statistics is None
    # inspect shows the section under its notice
    assert main(["inspect", str(copy), "--trust", str(pub)]) == 0
    assert "NOT DP      NOT differentially private" in capsys.readouterr().out
    # no key, no copy
    assert main(["evaluate", str(folder / "model.hzg"), "--trust", str(pub),
                 "--real", str(folder / "train.csv"), "--holdout", str(folder / "holdout.csv"),
                 "-o", str(folder / "r4.html"), "--embed-summary", str(folder / "x.hzg")]) == 1
    assert "--key" in capsys.readouterr().err
