"""The demo company (Northwind Outfitters): data files and their loader."""
