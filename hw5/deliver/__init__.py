"""(c) Evidence and delivery: the model cache, the report and its figures, the benchmarks, the hand-in
(script generator and zip) and the `hw5` command. It may use the homework's steps (hw5.homework) and the
converter (hw5.convert); neither of them imports it.

    cache.py         train each homework model once, reuse it (`train_part`)
    bench.py         the benchmarked paths and their summary
    figures.py       HTML pieces and matplotlib figures of the report
    report.py        the pytest-html run laid out as the report (HTML, PDF); report.css its print style
    users.py         authors' names (report's first page, hand-in file names)
    amalgamation.py  the hand-in script, generated from hw5/homework/ alone
    handin.py        the zip: the PDF and the script
    cli.py           the `hw5` command
"""
