#!/usr/bin/python3
"""Signs requests with botocore's S3 signers, for tests/sigv4_botocore_test.cc.

Reads a JSON list of requests (argv[1]) and writes, for each, botocore's
Authorization header (S3SigV4Auth) and presigned URL (S3SigV4QueryAuth) as a
JSON list (argv[2]).

botocore quirks this script accounts for (studied in botocore/auth.py):
- S3SigV4Auth signs urlsplit(request.url).path as is ("for S3, we do not
  normalize the path"): the URL must already carry the encoded path. botocore's
  own serializer encodes keys with percent_encode(key, safe='/~'), which is
  what is done here.
- Query parameters are passed in request.params (a dict, so names are unique):
  header signing then encodes them with quote(safe='-_.~'); parsing them out
  of a URL would not survive parse_qs's '+'-as-space in the presigner.
- The clock is datetime.datetime.utcnow() inside botocore.auth; the fixed
  signing time is injected by replacing that module attribute.
- S3SigV4Auth decides the payload hash itself (SHA-256 of the body, or
  UNSIGNED-PAYLOAD depending on https/Content-MD5/config). Only that decision
  is overridden, with the request's payload_hash; every canonicalization step
  is botocore's.
- botocore drops a presigned request's Content-Type when it is exactly
  'application/x-www-form-urlencoded; charset=utf-8', and never signs Expect,
  User-Agent or X-Amzn-Trace-Id; the generator avoids those.
"""

import datetime
import json
import sys
import types

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode


def fixed_clock(timestamp):
    fixed = datetime.datetime.strptime(timestamp, '%Y%m%dT%H%M%SZ')

    class FixedDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

    return types.SimpleNamespace(datetime=FixedDatetime)


class PayloadHashS3SigV4Auth(botocore.auth.S3SigV4Auth):
    def __init__(self, credentials, service, region, payload_hash):
        super().__init__(credentials, service, region)
        self._payload_hash = payload_hash

    def payload(self, request):
        return self._payload_hash


def build_request(spec):
    url = '%s://%s%s' % (spec['scheme'], spec['host'],
                         percent_encode(spec['path'], safe='/~'))
    request = AWSRequest(method=spec['method'], url=url,
                         params={k: v for k, v in spec['query']})
    for name, value in spec['headers']:
        request.headers[name] = value  # HTTPHeaders appends repeated names
    return request


def sign(spec):
    botocore.auth.datetime = fixed_clock(spec['timestamp'])
    credentials = Credentials(spec['access_key_id'], spec['secret_access_key'],
                              spec['session_token'] or None)

    request = build_request(spec)
    PayloadHashS3SigV4Auth(credentials, 's3', spec['region'],
                           spec['payload_hash']).add_auth(request)

    presign = build_request(spec)
    botocore.auth.S3SigV4QueryAuth(credentials, 's3', spec['region'],
                                   expires=spec['expires']).add_auth(presign)
    return {'authorization': request.headers['Authorization'],
            'presigned_url': presign.url}


def main():
    with open(sys.argv[1], encoding='utf-8') as f:
        specs = json.load(f)
    results = [sign(spec) for spec in specs]
    with open(sys.argv[2], 'w', encoding='utf-8') as f:
        json.dump(results, f)


if __name__ == '__main__':
    main()
