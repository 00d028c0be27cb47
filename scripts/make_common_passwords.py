"""Writes services/auth/auth/common_passwords.txt: passwords everybody tries first.

Built offline from well-known patterns of leaked-password lists (the most used words and names,
keyboard walks, digit runs, years and the usual suffixes, doubled words, leetspeak); only
entries of 12+ characters are kept (shorter ones are refused for their length anyway),
lower-cased (the check folds case). Re-run after editing:
    uv run python scripts/make_common_passwords.py
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "services" / "auth" / "auth" / "common_passwords.txt"

WORDS = """
password passw0rd p@ssword p@ssw0rd pass passwd qwerty letmein welcome admin administrator root
iloveyou monkey dragon football baseball basketball soccer hockey sunshine princess master shadow
superman batman spiderman trustno1 michael jennifer jordan hunter ranger buster killer george
charlie andrew michelle love lovely pepper daniel access joshua maggie starwars silver william
dallas yankees thomas computer whatever freedom ginger nicole chelsea summer winter spring autumn
helpdesk support changeme default secret login guest user test tester hello flower cookie
chocolate samsung google facebook apple microsoft linkedin twitter internet service server
matrix mustang harley ashley bailey jessica amanda robert matthew anthony jasmine taylor
liverpool arsenal barcelona madrid juventus chicago boston london paris berlin america canada
snoopy tigger pokemon naruto minecraft fortnite roblox blink182 metallica nirvana eminem
butterfly rainbow diamond angel angels heaven purple orange banana cheese pizza coffee
bubbles sparky cowboy merlin wizard phoenix falcon eagle tiger lion wolf panther bigdog
family friends forever together lovers loveme fuckyou fuckoff asshole whatever1 nothing
money monkey1 qwertyui zaq12wsx mypassword newpassword oldpassword temppass temp1234 welcome1
office company business manager account accounts finance payroll customer desk ticket tickets
security secure private system network database oracle postgres mysql linux windows ubuntu
abc abcd abcdef abcdefg abcdefgh asdf asdfgh zxcvbn qazwsx letmein1 access14 starwars1
jesus christ god blessed faith grace hope peace trust believe jordan23 michael1 superstar
""".split()

WALKS = """
qwertyuiop qwertyuiopasdf qwertyuiopasdfghjkl asdfghjkl asdfghjkl123 zxcvbnm zxcvbnm123
1qaz2wsx 1qaz2wsx3edc 1qaz2wsx3edc4rfv qazwsxedc qazwsxedcrfv 1q2w3e4r 1q2w3e4r5t 1q2w3e4r5t6y
q1w2e3r4 q1w2e3r4t5 q1w2e3r4t5y6 qwerty123456 qwertyqwerty asdfasdf asdfasdfasdf zaq1zaq1
zaq1xsw2 zaq1xsw2cde3 !qaz2wsx !qaz@wsx 1234qwer 1234qwerasdf qwer1234 qwerasdf qwerasdfzxcv
poiuytrewq lkjhgfdsa mnbvcxz 0987654321 0987654321qwerty 147258369 159357 159753 1470258369
123qweasd 123qweasdzxc qweasdzxc qweasd123 1qazxsw2 2wsx3edc 3edc4rfv abc123abc123
""".split()

SUFFIXES = [
    "",
    "1",
    "12",
    "123",
    "1234",
    "12345",
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "!",
    "1!",
    "12!",
    "123!",
    "1234!",
    "@123",
    "#1",
    "01",
    "007",
    "69",
    "99",
    "00",
    "11",
    "2000",
    "2001",
    "2010",
    "2015",
    "2016",
    "2017",
    "2018",
    "2019",
    "2020",
    "2021",
    "2022",
    "2023",
    "2024",
    "2025",
    "2026",
    "2027",
    "!!",
    "?",
    ".",
    "_1",
    "321",
    "4321",
    "54321",
]
PREFIXES = ["1", "123", "1234", "12345", "123456", "!", "my", "the", "ilove", "super"]
LEET = str.maketrans({"a": "@", "o": "0", "e": "3", "i": "1", "s": "$"})


def candidates() -> set[str]:
    found: set[str] = set()
    for word in WORDS:
        for base in {word, word.translate(LEET), word + word}:
            for suffix in SUFFIXES:
                found.add(base + suffix)
        for prefix in PREFIXES:
            found.add(prefix + word)
    for walk in WALKS:
        for suffix in ("", "1", "123", "!", "1234"):
            found.add(walk + suffix)
    digits = "1234567890"
    for length in range(8, 21):
        found.add((digits * 3)[:length])  # 12345678, 1234567890123
        found.add((digits[::-1] * 3)[:length])
        for d in digits:
            found.add(d * length)
        for letter in "abcdefghijklmnopqrstuvwxyz":
            found.add(letter * length)
        found.add(("12" * 10)[:length])
        found.add(("123" * 7)[:length])
        found.add(("abc" * 7)[:length])
    for phrase in (
        "correcthorsebatterystaple",
        "correct horse battery staple",
        "iloveyouforever",
        "iloveyousomuch",
        "letmeinplease",
        "passwordisforever",
        "thisismypassword",
        "mypasswordis",
        "changemenow",
        "pleaseletmein",
        "opensesame",
        "trustnoone",
    ):
        for suffix in ("", "1", "123", "!"):
            found.add(phrase + suffix)
    return {c.lower() for c in found if 12 <= len(c) <= 128}


def main() -> None:
    entries = sorted(candidates())
    OUT.write_text("\n".join(entries) + "\n", encoding="utf-8")
    print(f"{len(entries)} entries -> {OUT}")


if __name__ == "__main__":
    main()
