"""The owner's and the lab's commands, end to end, as a user runs them."""

from __future__ import annotations

import json

from provisioner.cli import main


def test_keygen_schema_train_verify_inspect_sample(tmp_path, adult_small, capsys):
    data = tmp_path / "people.csv"
    adult_small.iloc[:1500].to_csv(data, index=False)
    config = tmp_path / "small.toml"
    config.write_text("epochs = 2\nhidden = [16]\nfine_cells = 30\n[privacy]\nepsilon = 2.0\n")
    assert main(["keygen", "acme", "--dir", str(tmp_path)]) == 0

    assert main(["schema", str(data), "-o", str(tmp_path / "draft.toml")]) == 0
    draft = (tmp_path / "draft.toml").read_text()
    assert 'kind = "categorical"' in draft and "categories" not in draft  # no data values
    # the owner declares one published code list and drops a column
    schema = tmp_path / "schema.toml"
    schema.write_text('[columns.sex]\nkind = "categorical"\ncategories = ["Female", "Male"]\n'
                      'nullable = false\n[columns.fnlwgt]\ndrop = true\n')
    capsys.readouterr()
    out = tmp_path / "people.hzg"
    code = main(["train", str(data), "--key", str(tmp_path / "acme.key"), "--out", str(out),
                 "--config", str(config), "--schema", str(schema), "--delta", "1e-5",
                 "--name", "people", "--version", "3"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "epsilon spent" in printed.out and str(out) in printed.out
    assert "train [" in printed.err  # the progress bar

    trust = ["--trust", str(tmp_path / "acme.pub")]
    assert main(["verify", str(out), *trust]) == 0
    assert "OK people v3" in capsys.readouterr().out
    assert main(["inspect", str(out), "--json", *trust]) == 0
    header = json.loads(capsys.readouterr().out)["header"]
    columns = {c["name"]: c for c in header["schema"]["columns"]}
    assert "fnlwgt" not in columns
    assert columns["sex"]["metadata"] == "public" and columns["sex"]["rare_label"] is None
    assert header["privacy"]["epsilon"] <= 2.0 and header["generator"]["owner"] == "acme"

    rows = tmp_path / "rows.csv"
    assert main(["sample", str(out), "-n", "500", "--seed", "1", "-o", str(rows),
                 "--where", "sex=Female", *trust]) == 0
    lines = rows.read_text().splitlines()
    assert len(lines) == 501 and lines[0].split(",")[0] == "age"
    sex = lines[0].split(",").index("sex")
    assert {line.split(",")[sex] for line in lines[1:]} == {"Female"}
