"""Venue protocol layers: ``binance``, ``kraken``, ``kraken_futures`` (and the local ``sim``).

Each venue package has the same modules: ``schemas`` (wire types and typed decoders),
``parse`` (frames -> ``core.records``), ``book`` (local book upkeep and verification),
``subscribe`` (subscription frames, stream names, URLs), ``rest`` (async REST clients) and
``symbols`` (our symbol <-> the venue's, instrument discovery). Shared pieces: ``common``
(error counters, feed actions, instrument info), ``book`` (sorted levels, record framing),
``numbers`` (exact decimal and time conversions, trade ids) and ``http`` (error translation).
"""
