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
            "--rows", "1000"]
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
