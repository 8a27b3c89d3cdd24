"""Databento (historical API, DBN files).

- ``schemas``: DBN record layouts and the schemas we read, in Databento's field names;
- ``dbnfile``: a DBN file read as blocks of records, memory bounded;
- ``parse``: records to trade/quote columns and bars, vectorised;
- ``client``: ``databento.Historical`` for estimates and downloads, errors translated.
"""
