"""A bad flag value gets a message naming the flag and exit status 2, never a traceback: the CLI, the server and
training."""
import pytest

from bigr_app.app import cli, serve, train_cli


def refused(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        code = main(argv)
        raise SystemExit(code)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err
    return err


@pytest.mark.parametrize("argv,message", [
    (["generate", "--class", "1", "--device", "bogus"], "unknown device 'bogus'"),
    (["generate", "--class", "1", "--num-samples", "0"], "--num-samples: must be at least 1, got 0"),
    (["generate", "--class", "1", "--seed", "-5"], "--seed: must be at least 0, got -5"),
    (["generate", "--class", "1", "--steps", "zero"], "--steps: 'zero' is not a whole number"),
    (["generate", "--class", "1", "--temperature", "0"], "--temperature: must be above 0"),
    (["generate", "--class", "1", "--cfg", "nan"], "--cfg: must be at least 0"),
    (["sample-npz", "--out", "x.npz", "--batch", "0"], "--batch: must be at least 1, got 0"),
    (["features", "--data", ".", "--out", "f.npz", "--batch", "-2"], "--batch: must be at least 1, got -2"),
])
def test_the_cli_refuses_bad_values_by_name(argv, message, capsys, tmp_path):
    assert message in refused(cli.main, [*argv, *(["--out", str(tmp_path)] if argv[0] == "generate" else [])], capsys)


@pytest.mark.parametrize("argv,message", [
    (["--port", "0"], "--port: must be from 1 to 65535, got 0"),
    (["--max-file-size", "bogus"], "--max-file-size: 'bogus' is not a size"),
    (["--max-batch", "0"], "--max-batch: must be at least 1"),
    (["--batch-window", "-1"], "--batch-window: must be at least 0"),
    (["--sampling-threads", "0"], "--sampling-threads: must be at least 1"),
    (["--batching", "quick"], "--batching: invalid choice"),
])
def test_the_server_refuses_bad_values_by_name(argv, message, capsys):
    assert message in refused(serve.parse_args, argv, capsys)


def test_the_server_refuses_an_unknown_device(capsys):
    assert "unknown device 'bogus'" in refused(serve.main, ["--device", "bogus"], capsys)


@pytest.mark.parametrize("argv,message", [
    (["tokenizer", "--batch", "0"], "--batch: must be at least 1"),
    (["tokenizer", "--lr", "-1"], "--lr: must be above 0"),
    (["bigr", "--dropout", "1.5"], "--dropout: must be at least 0 and at most 0.99, got 1.5"),
    (["bigr", "--sample-steps", "400"], "diffusion_steps"),
])
def test_training_refuses_bad_values_by_name(argv, message, capsys, tmp_path):
    stage, *rest = argv
    assert message in refused(train_cli.main, [stage, "--data", str(tmp_path), "--out", str(tmp_path / "run"), *rest],
                              capsys)
