"""The docs cannot drift from the code: every condition reason the operator can write is
explained in docs/troubleshooting.md."""
import os
import re
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as handle:
        return handle.read()


def reasons_in_code():
    found = set()
    # Verdicts: return {Classification::X, "Reason", ...}
    found |= set(re.findall(r'Classification::(?!Unknown)\w+, "([A-Za-z0-9]+)"',
                            read("operator", "src", "probe", "classify.cpp")))
    # ReferenceError("Reason", ...) and the ternaries that choose one.
    found |= set(re.findall(r'"((?:Secret|ConfigMap|Key)NotFound|Invalid[A-Za-z]+)"',
                            read("operator", "src", "controller", "references.cpp")))
    # Conditions built in policy_status.cpp and reconciler.cpp.
    status = read("operator", "src", "controller", "policy_status.cpp")
    found |= set(re.findall(r'condition\(\s*"\w+",\s*(?:true|false),\s*"([A-Za-z0-9]+)"',
                            status))
    found |= set(re.findall(r'unknown\(\s*"\w+",\s*"([A-Za-z0-9]+)"', status))
    found |= set(re.findall(r'interceptorTrusted \? "(\w+)" : "(\w+)"', status)[0])
    found |= set(re.findall(r'Classification::Supported \? "(\w+)"', status))
    found |= set(re.findall(r': "(NoTargets)"', status))
    found |= set(re.findall(r'specReason = "([A-Za-z0-9]+)"',
                            read("operator", "src", "controller", "reconciler.cpp")))
    return found


class TroubleshootingDocTest(unittest.TestCase):
    def test_every_reason_is_explained(self):
        reasons = reasons_in_code()
        self.assertGreaterEqual(len(reasons), 20, reasons)  # the extraction itself works
        documented = set(re.findall(r"\*\*`([A-Za-z0-9]+)`\*\*", read("docs", "troubleshooting.md")))
        self.assertEqual(sorted(reasons - documented), [], "reasons without an explanation")


if __name__ == "__main__":
    unittest.main()
