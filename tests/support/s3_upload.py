"""Test support: creates a bucket on the loopback S3 server and uploads a folder into it.

Usage: s3_upload.py ENDPOINT BUCKET LOCAL_DIR
Every file below LOCAL_DIR becomes an object keyed by its relative path. Uploads are done
here, by boto3, so the code under test never writes the objects it verifies.
"""
import os
import sys

import boto3

endpoint, bucket, local = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)
s3.create_bucket(Bucket=bucket)
for root, _dirs, files in os.walk(local):
    for name in files:
        path = os.path.join(root, name)
        key = os.path.relpath(path, local)
        with open(path, "rb") as f:
            s3.put_object(Bucket=bucket, Key=key, Body=f.read())
