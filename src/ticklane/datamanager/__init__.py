"""The data manager: bringing ticks into the store from venues' archives and users' own files."""
