"""Every relative link in README.md and docs/ leads somewhere: the file exists and, for a
#fragment, the target page has that heading (GitHub's anchor rules)."""
import glob
import os
import re
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path):
    with open(path, encoding="utf-8") as handle:
        text = re.sub(r"```.*?```", "", handle.read(), flags=re.S)
    result = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        result.add(slug)
    return result


class LinksTest(unittest.TestCase):
    def test_relative_links_resolve(self):
        pages = [os.path.join(ROOT, "README.md")] + glob.glob(os.path.join(ROOT, "docs", "*.md"))
        broken = []
        for page in pages:
            with open(page, encoding="utf-8") as handle:
                text = re.sub(r"```.*?```", "", handle.read(), flags=re.S)
            for target in LINK.findall(text):
                if re.match(r"^[a-z]+:", target):
                    continue
                file, _, fragment = target.partition("#")
                path = os.path.normpath(os.path.join(os.path.dirname(page), file)) if file \
                    else page
                where = f"{os.path.relpath(page, ROOT)}: {target}"
                if not os.path.exists(path):
                    broken.append(where)
                elif fragment and path.endswith(".md") and fragment not in anchors(path):
                    broken.append(where + " (no such heading)")
        self.assertEqual(broken, [])


if __name__ == "__main__":
    unittest.main()
