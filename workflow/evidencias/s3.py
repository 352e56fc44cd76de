"""Evidence blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, DigitalOcean Spaces…).

The production option for several web servers without a shared disk. It implements
``workflow.evidencias.storage.Storage``: ``put`` uploads under a random 128-bit key (the
same shape as the local folder's, so stored keys stay valid whichever storage wrote them),
``open`` reads the object into a spooled temporary file (in memory up to 1 MiB, then on disk)
so the caller gets an ordinary seekable file, and ``delete`` removes it. Keys that do not
look generated are refused before any request is made.

Credentials are never configuration of ours: boto3 reads them from the environment
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``), its config files or an instance role.
"""

from __future__ import annotations

import secrets
import tempfile
from typing import Any, BinaryIO

from workflow.errors import NotFound, Unavailable
from workflow.evidencias.storage import CHUNK, KEY_PATTERN, READ_FAILED, STORE_FAILED, Storage

IN_MEMORY_UP_TO = 1024 * 1024
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class S3Storage:
    """Blobs as objects ``<prefix><key>`` of one bucket."""

    def __init__(self, bucket: str, *, client: Any | None = None, prefix: str = "evidencias/",
                 endpoint_url: str | None = None, region: str | None = None) -> None:
        if not bucket:
            raise ValueError("S3Storage needs a bucket name")
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3", endpoint_url=endpoint_url, region_name=region,
                config=Config(connect_timeout=10, read_timeout=60,
                              retries={"max_attempts": 3, "mode": "standard"}))
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def _object(self, key: str) -> str:
        if not KEY_PATTERN.fullmatch(key):
            raise NotFound("No encontramos ese archivo.")
        return f"{self.prefix}{key}"

    def check(self) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as error:
            return f"el bucket de evidencias no responde ({type(error).__name__})"
        return None

    def put(self, stream: BinaryIO) -> str:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        key = secrets.token_hex(16)
        stream.seek(0)
        try:
            # One PUT (multipart above boto3's threshold): an object is never half visible.
            self.client.upload_fileobj(stream, self.bucket, self._object(key))
        except (BotoCoreError, ClientError, S3UploadFailedError) as error:
            raise Unavailable(STORE_FAILED) from error
        return key

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._object(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in MISSING_CODES:
                raise NotFound("El archivo ya no está disponible.") from None
            raise Unavailable(READ_FAILED) from error
        except BotoCoreError as error:
            raise Unavailable(READ_FAILED) from error
        body = response["Body"]
        spool = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_UP_TO)  # noqa: SIM115
        try:
            for chunk in iter(lambda: body.read(CHUNK), b""):
                spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        finally:
            body.close()
        spool.seek(0)
        return spool  # type: ignore[return-value]

    def delete(self, key: str) -> None:
        # DeleteObject of a missing key succeeds: deleting twice is harmless, as locally.
        self.client.delete_object(Bucket=self.bucket, Key=self._object(key))


def from_config(config: Any) -> Storage:
    """The S3 storage the app's configuration names (``EVIDENCE_STORAGE=s3``)."""
    return S3Storage(config["S3_BUCKET"], prefix=config.get("S3_PREFIX") or "",
                     endpoint_url=config.get("S3_ENDPOINT_URL"),
                     region=config.get("S3_REGION"))
