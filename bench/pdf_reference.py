"""pdfminer.six on the corpus PDFs: pages per second, one process, one core.

    python bench/pdf_reference.py CORPUS_DIR
"""

import pathlib
import sys
import time

from pdfminer.high_level import extract_text
from pdfminer.pdfpage import PDFPage


def main():
    files = sorted(pathlib.Path(sys.argv[1]).rglob("*.pdf"))
    pages = 0
    for f in files:
        with open(f, "rb") as handle:
            pages += sum(1 for _ in PDFPage.get_pages(handle))
    started = time.perf_counter()
    for f in files:
        extract_text(f)
    seconds = time.perf_counter() - started
    print(f"{'pdfminer.six (in process)':<34} {seconds:>8.3f} s {pages / seconds:>9.0f} pages/s ({len(files)} PDFs, {pages} pages)")


if __name__ == "__main__":
    main()
