"""Write tools/vega/template.html: DVC's plots page with vega, vega-lite and vega-embed inside it.

`dvc plots show` fills an HTML template whose default loads the three libraries from a CDN, so offline only
the PNGs show. This template carries the copies npm installed here (tools/vega/package.json) in the page
itself, which then works without a network and wherever it is copied. `make tools` runs this and points
DVC at it for this clone (`dvc config --local plots.html_template`).
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
LIBRARIES = ["vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js"]


def inline(path: Path) -> str:
    code = path.read_text(encoding="utf-8").replace("</script", "<\\/script")  # cannot end the tag early
    return f"<script>\n{code}\n</script>"


def main() -> None:
    scripts = "\n".join(inline(HERE / "node_modules" / name) for name in LIBRARIES)
    page = f"""<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {{refresh_tag}}
    <title>DVC Plot</title>
    {scripts}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""
    (HERE / "template.html").write_text(page, encoding="utf-8")
    print(f"wrote {HERE / 'template.html'} ({len(page) // 1024} KiB, no network needed)")


if __name__ == "__main__":
    main()
