"""docs/reference.md cannot drift from the CRD: every spec and status field of the schema has a
row with its type, enum values, default and whether it is required, and the page names no
field the schema lacks. docs/cli.md likewise lists exactly the flags the commands accept."""
import os
import re
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "charts"))
from chart_support import CRD_SOURCE, load_yaml_file  # noqa: E402  (YAML through kubectl)

ROW = re.compile(r"^\| `((?:spec|status)(?:[.\w\[\]]*))` \| ([^|]+) \| (.*) \|$")


def read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as handle:
        return handle.read()


def type_name(schema):
    kind = schema.get("type")
    if kind == "array":
        return "[]" + type_name(schema.get("items", {}))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return "map[string]" + type_name(schema["additionalProperties"])
    return kind


def schema_fields():
    """{path: (schema, required)} for spec, status and everything under them."""
    crd = load_yaml_file(CRD_SOURCE)[0]
    [version] = [v for v in crd["spec"]["versions"] if v.get("storage")]
    root = version["schema"]["openAPIV3Schema"]
    fields = {}

    def walk(schema, path):
        required = set(schema.get("required", []))
        for name, child in (schema.get("properties") or {}).items():
            child_path = f"{path}.{name}" if path else name
            fields[child_path] = (child, name in required)
            if child.get("type") == "object":
                walk(child, child_path)
            elif child.get("type") == "array" and child.get("items", {}).get("properties"):
                walk(child["items"], child_path + "[]")

    walk({"properties": {k: root["properties"][k] for k in ("spec", "status")},
          "required": root.get("required", [])}, "")
    return fields


def documented_fields():
    rows = {}
    for line in read("docs", "reference.md").splitlines():
        match = ROW.match(line)
        if match:
            path, kind, meaning = match.groups()
            rows[path] = (kind.strip(), meaning)
    return rows


class ReferenceDocTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.schema = schema_fields()
        cls.rows = documented_fields()

    def test_every_field_is_documented_and_no_other(self):
        self.assertGreater(len(self.schema), 60)  # the walk itself works
        self.assertEqual(sorted(set(self.schema) - set(self.rows)), [],
                         "fields of the CRD schema missing from docs/reference.md")
        self.assertEqual(sorted(set(self.rows) - set(self.schema)), [],
                         "docs/reference.md names fields the CRD schema does not have")

    def test_types_enums_defaults_and_required(self):
        for path, (schema, required) in self.schema.items():
            if path not in self.rows:
                continue
            kind, meaning = self.rows[path]
            self.assertEqual(kind.strip("`"), type_name(schema), f"{path}: type")
            for value in schema.get("enum", []):
                self.assertIn(f"`{value}`", meaning, f"{path}: enum value {value}")
            if "default" in schema:
                default = schema["default"]
                text = str(default).lower() if isinstance(default, bool) else str(default)
                self.assertIn(f"Default `{text}`", meaning, f"{path}: default")
            if path.startswith("spec"):
                self.assertEqual(meaning.startswith("Required"), required,
                                 f"{path}: says Required" if not required else
                                 f"{path}: is required by the schema; start with 'Required'")


def flags_in(source):
    return set(re.findall(r'flag == "(--[a-z-]+)"', read("operator", "src", "cli", source)))


def flags_in_table(section):
    text = read("docs", "cli.md")
    start = text.index(section)
    end = text.find("\n## ", start + 1)
    body = text[start:end if end != -1 else None]
    return set(re.findall(r"^\| `(--[a-z-]+)", body, re.M))


class CliDocTest(unittest.TestCase):
    def test_probe_flags(self):
        flags = flags_in("probe_command.cpp")
        self.assertIn("--proxy", flags)
        self.assertEqual(flags_in_table("## `agentproxy probe`"), flags)

    def test_run_flags(self):
        flags = flags_in("run_command.cpp")
        self.assertIn("--leader-elect", flags)
        self.assertEqual(flags_in_table("## `agentproxy run`"), flags)


if __name__ == "__main__":
    unittest.main()
