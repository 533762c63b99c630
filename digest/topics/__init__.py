"""Topics and stories: what makes a digest of a list's articles.

    files.py       topic files (TOML) editors keep under version control
    embedding.py   multilingual sentence embeddings (USE v3 on numpy)
    terms.py       words, stems and TF-IDF rows, for both the classifier and stories
    classifier.py  prototypes from what editors write, self-trained on the stream
    assign.py      the classifier over one list's window, with its corrections
    filing.py      the seam the issue builder calls: stored filings, corrections
    stories.py     same-event clustering
    grouping.py    stories of a window: stable ids, editors' links, ranking
    evaluate.py    `digest topics eval` and `digest stories eval`
"""
