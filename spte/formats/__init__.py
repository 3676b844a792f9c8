"""The SDM field tables, one module per paging family.

Each table is a tuple of :class:`~spte.bits.Field` rows in bit order and reads like
the SDM figure it comes from; ``spte.entry`` turns each into an entry class.
"""
