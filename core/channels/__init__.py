"""Channel payload normalizers: raw inbound formats to Threadline messages."""
