#!/usr/bin/env python3
"""Golden T5 token ids from SentencePiece itself, for test/io/tokenizer.test.ts.

Reads sentences from the real GLUE files in the shared data folder (WEBPEFT_SHARED_DATA, default
../shared/data from the repository root) and writes test/goldens/tokenizer-ids.json holding, for each
sentence, only where it came from (file, row, column) and its ids: sp.encode(text) + [1] (</s>), which is
what HF's T5Tokenizer returns. The text itself is not written: the data stays in the shared folder, and
the test reads the sentences from there.

  row:    0-based line of the file, the header line counted (MRPC's line 0 starts with a UTF-8 BOM,
          which is kept: row 0 column 0 of MRPC is a sentence here on purpose)
  column: 0-based tab-separated field (quoting disabled, as GLUE files must be read)

Also writes a few strings made up for this test ("synthetic", with their text): whitespace runs, Unicode
that NFKC rewrites, unknown characters, and punctuation runs whose segmentations tie in score (where
SentencePiece's float32 tie-breaking matters).

Run with the system Python that has Debian's python3-sentencepiece:
  /usr/bin/python3 scripts/goldens/tokenizer_ids.py
"""
import hashlib
import json
import os
import sys
from pathlib import Path

import sentencepiece

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("WEBPEFT_SHARED_DATA") or REPO.parent / "shared" / "data")
OUT = REPO / "test" / "goldens" / "tokenizer-ids.json"
MODEL = "t5-tokenizer/spiece.model"

# (file, rows, columns). Rows are line numbers as defined above.
SELECTION = [
    ("glue/SST-2/dev.tsv", range(1, 61), [0]),  # lower-cased, pre-tokenized, trailing space
    ("glue/CoLA/dev.tsv", [*range(0, 60), 1042], [3]),  # no header, no final newline
    ("glue/MRPC/dev.tsv", [0], [0]),  # the BOM-prefixed header cell
    ("glue/MRPC/dev.tsv", range(1, 31), [3, 4]),  # untokenized news text, unbalanced quotes
    ("glue/STS-B/dev.tsv", range(1, 26), [7, 8]),
    ("glue/STS-B/dev.tsv", "quote-rows", [7, 8]),  # the rows GLUE ships with unbalanced quotes
    ("glue/RTE/dev.tsv", range(1, 21), [1, 2]),  # long premises
    ("glue/QNLI/dev.tsv", range(1, 16), [1, 2]),
    ("glue/MNLI-sample/dev_matched.tsv", range(1, 3), [8, 9]),
]
STSB_QUOTE_INDEXES = {"764", "1025", "1041", "1076", "1100", "1157", "1177"}

SYNTHETIC = [
    "",
    "   ",
    "Hello  world",
    "  leading and trailing  ",
    "tab\tand\nnewline",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "café naïve résumé",
    "e\u0301 vs \u00e9",
    "no\u00a0break\u3000ideographic",
    "ﬁnance ① ½ ™",
    "emoji 😀😀 and 中文",
    "----",
    "!!----",
    "x ----",
    ".......",
    "A.......",
    "A.........",
    "…….",
    "ﬁ--s!!----",
]


def lines_of(path: Path) -> list[str]:
    lines = path.read_bytes().decode("utf-8").split("\n")  # utf-8 (not utf-8-sig): the BOM is kept
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"shared data not found at {DATA}: set WEBPEFT_SHARED_DATA")
    model_path = DATA / MODEL
    sp = sentencepiece.SentencePieceProcessor(model_file=str(model_path))
    sentences = []
    for file, rows, columns in SELECTION:
        lines = lines_of(DATA / file)
        if rows == "quote-rows":
            rows = [r for r, line in enumerate(lines) if line.split("\t")[0] in STSB_QUOTE_INDEXES]
            assert len(rows) == len(STSB_QUOTE_INDEXES), rows
        for row in rows:
            cells = lines[row].split("\t")
            for column in columns:
                sentences.append({"file": file, "row": row, "column": column, "ids": sp.encode(cells[column]) + [1]})
    synthetic = [{"text": text, "ids": sp.encode(text) + [1]} for text in SYNTHETIC]
    golden = {
        "generator": "scripts/goldens/tokenizer_ids.py",
        "sentencepiece": sentencepiece.__version__,
        "model": MODEL,
        "model_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "ids": "sp.encode(text) + [1]",
        "row": "0-based line index, header line included; text decoded as UTF-8 with any BOM kept",
        "column": "0-based tab-separated field, no quoting",
        "sentences": sentences,
        "synthetic": synthetic,
    }
    # One entry per line: readable diffs when the selection changes.
    with OUT.open("w", encoding="utf-8") as f:
        f.write("{\n")
        for key in ("generator", "sentencepiece", "model", "model_sha256", "ids", "row", "column"):
            f.write(f"  {json.dumps(key)}: {json.dumps(golden[key])},\n")
        for key in ("sentences", "synthetic"):
            entries = golden[key]
            f.write(f"  {json.dumps(key)}: [\n")
            for i, entry in enumerate(entries):
                f.write("    " + json.dumps(entry, ensure_ascii=False) + ("," if i + 1 < len(entries) else "") + "\n")
            f.write("  ]" + ("," if key == "sentences" else "") + "\n")
        f.write("}\n")
    print(f"wrote {OUT.relative_to(REPO)}: {len(sentences)} GLUE sentences, {len(synthetic)} synthetic strings")


if __name__ == "__main__":
    main()
