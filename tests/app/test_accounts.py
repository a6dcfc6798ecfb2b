"""Accounts: hashed passwords only, a login that slows guessers down, and a server that will not start open to
others without them."""
import logging
import os
import stat

import pytest

from bigr_app.app import serve
from bigr_app.app.accounts import MAX_FAILURES, Accounts, add_user, read_auth_file
from bigr_app.errors import InputError


def test_the_users_file_holds_salted_hashes_readable_by_its_owner_only(tmp_path):
    users = tmp_path / "users.txt"
    add_user(users, "alice", "correct horse")
    add_user(users, "bob", "correct horse")
    text = users.read_text()
    assert "correct horse" not in text
    stored = read_auth_file(users)
    assert stored["alice"].startswith("scrypt$") and stored["alice"] != stored["bob"]  # salted
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    add_user(users, "alice", "battery staple")  # replaces her password, keeps bob
    accounts = Accounts.from_flags(None, users)
    assert accounts.check("alice", "battery staple") and not accounts.check("alice", "correct horse")
    assert accounts.check("bob", "correct horse")
    with pytest.raises(InputError, match="at least 8"):
        add_user(users, "carol", "short")
    with pytest.raises(InputError, match="user name"):
        add_user(users, "a:b", "long enough")


def test_a_name_is_locked_out_after_repeated_failures(monkeypatch):
    accounts = Accounts.from_flags(["alice:correct horse"], None)
    assert not accounts.check("nobody", "correct horse")
    for _ in range(MAX_FAILURES):
        assert not accounts.check("alice", "guess")
    assert not accounts.check("alice", "correct horse")  # right, but locked out for now
    from bigr_app.app import accounts as module

    monkeypatch.setattr(module, "LOCKOUT_S", 0.0)
    assert accounts.check("alice", "correct horse")  # the lockout is over


def test_bad_auth_flags_and_files_get_a_message(tmp_path, capsys):
    (tmp_path / "plain.txt").write_text("alice:hunter22\n")
    assert serve.main(["--auth-file", str(tmp_path / "plain.txt")]) == 2
    assert "not NAME:scrypt$" in capsys.readouterr().err
    assert serve.main(["--auth", "alice"]) == 2
    assert "--auth takes NAME:PASSWORD" in capsys.readouterr().err
    assert serve.main(["--auth-file", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read the users file" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--host", "0.0.0.0"], ["--share"], ["--host", "192.168.1.5"]])
def test_the_server_refuses_to_start_open_beyond_loopback(flags, capsys):
    assert serve.main(flags) == 2
    err = capsys.readouterr().err
    assert "anyone who reaches this server" in err and "bigr-studio add-user NAME" in err
    assert "--insecure-no-auth" in err


def test_insecure_no_auth_is_the_explicit_way_out_and_warns(capsys, caplog):
    with caplog.at_level(logging.WARNING):  # it gets past the check, to the (bogus) device
        assert serve.main(["--host", "0.0.0.0", "--insecure-no-auth", "--device", "bogus"]) == 2
    assert "unknown device" in capsys.readouterr().err
    assert "serving with no login beyond loopback" in caplog.text


def test_add_user_asks_twice_and_stores_a_hash(tmp_path, monkeypatch, capsys):
    users = tmp_path / "users.txt"
    answers = iter(["a long password", "a long password", "one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert serve.main(["add-user", "alice", "--auth-file", str(users)]) == 0
    assert Accounts.from_flags(None, users).check("alice", "a long password")
    assert serve.main(["add-user", "bob", "--auth-file", str(users)]) == 2
    assert "differ" in capsys.readouterr().err and "bob" not in read_auth_file(users)
