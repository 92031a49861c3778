"""Reading other apps' contact files: `sources` turns a file (CSV of any encoding and
delimiter, or vCard) into rows of (header, value) pairs, `vocabulary` says what each header
and status word means, `contacts` makes one customer's worth of fields out of a row. Writing
them, with the report, is `crmbot.importer`'s job."""
