"""Evidence files: uploads checked and stored locally or in S3."""
