"""Pure feature engineering: price frames and arrays in, arrays out (no I/O)."""
