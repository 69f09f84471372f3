"""DVC remote storage against a real S3-protocol server (moto's server mode, as DVC's own tests use).

One clone pushes; a second, fresh clone pulls `models/adapter` alone and gets exactly the files
dvc.lock describes; a CI-style `dvc exp run --pull --allow-missing` in a third clone fetches only what
the stages it must re-run need. An unreachable remote and a wrong secret fail with a clear message and
leave nothing half-written. Credentials travel in the environment, never in tracked files.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import DVC, ROOT, sh

BUCKET = "shelltune-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto_server on 127.0.0.1 enforcing IAM auth after four bootstrap calls (bucket, user, policy, key)."""
    import boto3

    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env={"INITIAL_NO_AUTH_ACTION_COUNT": "4", "PATH": "/usr/bin:/bin"},
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert time.time() < deadline and server.poll() is None, log.read_text()
        time.sleep(0.2)
    boot = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "boot",
        "aws_secret_access_key": "boot",
    }
    boto3.client("s3", **boot).create_bucket(Bucket=BUCKET)
    iam = boto3.client("iam", **boot)
    iam.create_user(UserName="ci")
    iam.put_user_policy(
        UserName="ci",
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="ci")["AccessKey"]
    yield {"endpoint": endpoint, "id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    server.terminate()
    server.wait(timeout=10)


def credentials(s3, secret: str | None = None) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": s3["id"],
        "AWS_SECRET_ACCESS_KEY": secret or s3["secret"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }


def use_remote(repo: Path, endpoint: str) -> None:
    """Point the committed default remote at the test server, in the git-ignored .dvc/config.local."""
    sh(DVC, "remote", "modify", "--local", "storage", "url", f"s3://{BUCKET}/cache", cwd=repo)
    sh(DVC, "remote", "modify", "--local", "storage", "endpointurl", endpoint, cwd=repo)
    sh(DVC, "remote", "modify", "--local", "storage", "connect_timeout", "5", cwd=repo)


@pytest.fixture(scope="module")
def pushed(reproduced_clone: Path, s3):
    use_remote(reproduced_clone, s3["endpoint"])
    out = sh(DVC, "push", cwd=reproduced_clone, env=credentials(s3))
    assert "pushed" in out
    return s3


def teammate(reproduced_clone: Path, dest: Path) -> Path:
    """A fresh `git clone` of the pushed repository (the smoke run committed): what a teammate starts from."""
    sh("git", "clone", "-q", str(reproduced_clone), str(dest), cwd=dest.parent)
    return dest


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def lock_out(repo: Path, stage: str, path: str) -> dict:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(o for o in lock["stages"][stage]["outs"] if o["path"] == path)


@pytest.mark.slow
def test_fresh_clone_pulls_the_adapter_alone(pushed, reproduced_clone: Path, tmp_path: Path):
    repo = teammate(reproduced_clone, tmp_path / "teammate")
    use_remote(repo, pushed["endpoint"])
    sh(DVC, "pull", "models/adapter", cwd=repo, env=credentials(pushed))
    adapter = repo / "models" / "adapter"
    assert not (repo / "models" / "base").exists(), "pulling one target must not fetch the others"
    entry = lock_out(repo, "train", "models/adapter")
    digest = entry["md5"].removesuffix(".dir")
    manifest = json.loads((repo / ".dvc/cache/files/md5" / digest[:2] / (digest[2:] + ".dir")).read_text())
    files = sorted(p.relative_to(adapter).as_posix() for p in adapter.rglob("*") if p.is_file())
    assert files == sorted(item["relpath"] for item in manifest) and len(files) == entry["nfiles"]
    for item in manifest:
        assert md5(adapter / item["relpath"]) == item["md5"], item["relpath"]
        assert (adapter / item["relpath"]).read_bytes() == (
            reproduced_clone / "models/adapter" / item["relpath"]
        ).read_bytes()
    assert "adapter_model.safetensors" in files
    # The secret only ever lived in the environment: no tracked file holds it.
    tracked = sh("git", "ls-files", "-z", cwd=repo, stdout_only=True).split("\0")
    assert not any(
        pushed["secret"] in (repo / f).read_text(errors="ignore") for f in tracked if f and (repo / f).is_file()
    )
    assert sh("git", "status", "--porcelain", "--untracked-files=no", cwd=repo, stdout_only=True) == ""


@pytest.mark.slow
def test_a_plain_dvc_pull_works_on_a_fresh_clone_that_never_ran_the_export(
    pushed, reproduced_clone: Path, tmp_path: Path
):
    """The committed export/dvc.lock names files nobody pushed here; its outputs are not DVC-cached, so a
    plain `dvc pull` fetches the main pipeline's outputs and exits 0."""
    assert (ROOT / "export" / "dvc.lock").exists()
    repo = teammate(reproduced_clone, tmp_path / "newcomer")
    use_remote(repo, pushed["endpoint"])
    sh(DVC, "pull", cwd=repo, env=credentials(pushed))
    assert (repo / "models" / "adapter" / "adapter_model.safetensors").is_file()
    assert (repo / "data" / "processed" / "train.jsonl").is_file()
    assert not (repo / "models" / "gguf").exists()


@pytest.mark.slow
def test_ci_style_run_pulls_only_what_the_changed_stages_need(pushed, reproduced_clone: Path, tmp_path: Path):
    repo = teammate(reproduced_clone, tmp_path / "ci")
    use_remote(repo, pushed["endpoint"])
    out = sh(
        DVC,
        "exp",
        "run",
        "--pull",
        "--allow-missing",
        "-S",
        "validate.max_new_tokens=40",
        cwd=repo,
        env=credentials(pushed),
    )
    assert "Running stage 'validate'" in out and "Running stage 'train'" not in out
    assert "Running stage 'split'" not in out and "Running stage 'base'" not in out
    assert json.loads((repo / "reports/validate.json").read_text())["tuned"]["exact_match"] > 0.2


@pytest.mark.slow
def test_unreachable_remote_is_a_clear_error_and_writes_nothing(pushed, reproduced_clone: Path, tmp_path: Path):
    repo = teammate(reproduced_clone, tmp_path / "offline")
    use_remote(repo, f"http://127.0.0.1:{free_port()}")
    start = time.time()
    out = sh(DVC, "pull", "models/adapter", cwd=repo, env=credentials(pushed), check=False, timeout=300)
    assert "ERROR" in out and "failed to pull data from the cloud" in out.lower() or "connect" in out.lower(), out
    assert not (repo / "models" / "adapter").exists()
    assert time.time() - start < 240


@pytest.mark.slow
def test_wrong_secret_is_a_clear_error_and_writes_nothing(pushed, reproduced_clone: Path, tmp_path: Path):
    repo = teammate(reproduced_clone, tmp_path / "badkey")
    use_remote(repo, pushed["endpoint"])
    out = sh(DVC, "pull", "models/adapter", cwd=repo, env=credentials(pushed, secret="wrong"), check=False)
    assert "ERROR" in out and ("SignatureDoesNotMatch" in out or "Forbidden" in out or "403" in out), out
    assert not (repo / "models" / "adapter").exists()
