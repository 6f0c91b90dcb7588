"""Operations: maintenance passes (retention), and later backups and copies."""
