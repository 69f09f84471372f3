"""Each rule declares the commands it reads, and the index built from those declarations is complete."""

from __future__ import annotations

import json

import pytest

from shelltune.safety import scan_all, scan_command
from shelltune.safety.rules import RULES, rules_for
from shelltune.safety.walk import Context, collect

from conftest import ROOT


def corpus_and_dataset() -> list[str]:
    corpus = [json.loads(line)["cmd"] for line in (ROOT / "tests/data/safety_corpus.jsonl").open()]
    dataset = [json.loads(line)["command"] for line in (ROOT / "data/raw/shelltune_nl2bash.jsonl").open()]
    return list(dict.fromkeys(corpus + dataset))


def test_no_rule_fires_on_a_command_it_did_not_declare():
    # Run every rule on every command, declared or not: a finding from an undeclared rule means the
    # index would have hidden it from the scanner.
    undeclared, checked = [], 0
    for line in corpus_and_dataset():
        ctx = collect(line, Context(judge=scan_command))
        for command in ctx.commands:
            chosen = rules_for(command, ctx)
            for rule in RULES:
                if rule not in chosen:
                    checked += 1
                    if rule(command, ctx) is not None:
                        undeclared.append((rule.judge.__name__, command.name, line))
    assert checked > 50_000
    assert not undeclared, undeclared[:10]


def test_plain_commands_meet_no_rule():
    ctx = collect("ls -la | grep x; wc -l notes.txt")  # git is read now (push, clean, hooks): not plain
    assert all(rules_for(c, ctx) == () for c in ctx.commands)
    assert [r.judge.__name__ for r in rules_for(collect("mkfs.ext4 /dev/sdb").commands[0], Context())] == [
        "rule_disk_wipe"
    ]


@pytest.mark.parametrize(
    "cmd,category",
    [
        ("rm -rf /root/.ssh", "secret_destruction"),
        ("rm ~/.ssh/id_*", "secret_destruction"),
        (": > ~/.aws/credentials", "secret_destruction"),
        ('rm -rf "$A/$B"', "empty_variable_delete"),
        ("find $ROOT/ -delete", "empty_variable_delete"),
        ("crontab -u bob -r", "crontab_wipe"),
        ('python3 -c \'import subprocess; subprocess.call(["mkfs.ext4", "/dev/sdb"])\'', "disk_wipe"),
        ("perl -e 'qx/shutdown -h now/'", "shutdown"),
        ("docker run --rm --volume=/etc:/h alpine rm -rf /h", "recursive_delete"),
        ("docker run -it --mount type=bind,src=/,dst=/x alpine", "container_escape"),
        ("fdisk /dev/sda < layout.txt", "disk_wipe"),
        ("usermod -ou0 svc", "auth_tampering"),
        ("sed -i 's/^#PermitRootLogin.*/PermitRootLogin yes/' /etc/ssh/sshd_config", "auth_tampering"),
        ("apt-get remove libc6:amd64", "system_package_removal"),
        ("apt remove 'python3-*'", "system_package_removal"),
        ("echo \"alias git='rm -rf'\" >> ~/.zshrc", "persistence"),
    ],
)
def test_v3_rules(cmd, category):
    found = scan_command(cmd)
    assert found is not None and found.category == category, found


@pytest.mark.parametrize(
    "cmd",
    [
        "rm -f ~/.ssh/id_rsa.pub",
        "echo '[default]' > ~/.aws/credentials",  # writing new content configures
        'rm -rf "$1"',
        'rm -rf "${OUT:?}"/',
        '[[ -n $D ]] && rm -rf "$D"/*',
        "crontab -ri",
        "python3 -c \"import os; print('rm -rf /')\"",
        'node -e "console.log(`rm -rf ${x}`)"',
        "docker run --rm -it -v /var/run/docker.sock:/var/run/docker.sock lazyteam/lazydocker",
        "docker run --rm alpine rm -rf /",
        "docker run -v /:/host:ro alpine sh -c 'cat /host/etc/hostname'",
        "echo p | fdisk /dev/sda",
        "lvremove /dev/vg0/old",
        "sudo apt remove linux-image-6.1.0-9-amd64",
        "sudo rpm -e --nodeps java-11-openjdk",
        "echo \"alias ls='ls --color=auto'\" >> ~/.bashrc",
        "sudo chown -R $USER:$USER /usr/local/lib/node_modules",
    ],
)
def test_v3_rules_leave_routine_work_alone(cmd):
    assert scan_command(cmd) is None, scan_command(cmd)


def test_v3_reasons_say_what_is_lost():
    assert "SSH private key" in scan_command("rm -rf ~/.ssh").reason
    assert '"${DIR:?}"' in scan_command('rm -rf "$DIR"/').reason
    assert "libc6" in scan_command("apt purge libc6").reason
    assert "whenever `ls` is typed" in scan_command("echo \"alias ls='rm -rf ~'\" >> ~/.bashrc").reason


@pytest.mark.parametrize(
    "cmd,category",
    [
        ("find ~/.ssh -name 'id_*' -delete", "secret_destruction"),  # held-out misses, fixed after measuring
        ("find ~ -name id_ed25519 -exec shred -u {} +", "secret_destruction"),
        ("perl -e 'system \"rm -rf /usr\"'", "recursive_delete"),
        ("ruby -e 'exec \"reboot\"'", "shutdown"),
    ],
)
def test_filtered_find_over_secrets_and_calls_without_parentheses(cmd, category):
    found = scan_command(cmd)
    assert found is not None and found.category == category, found


def test_filtered_find_elsewhere_and_printed_text_stay_alone():
    assert scan_command("find ~ -name '*.tmp' -exec rm {} +") is None
    assert scan_command("perl -e 'print \"system rm -rf /\"'") is None


def test_globs_reach_dotfiles_only_when_they_say_so():
    # bash's `*` skips names starting with a dot: `rm -rf ~/*` leaves ~/.ssh alone
    assert [f.category for f in scan_all("rm -rf ~/*")] == ["recursive_delete"]
    assert scan_command("rm -rf ~/.s*").category == "secret_destruction"
