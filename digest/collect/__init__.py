"""Collection: fetch a feed politely, parse it, clean each entry into an Article."""
