#!/usr/bin/env python3
# fakeaws.py - A FAKE of Amazon EC2 (Query API, the few actions hyperspool's
# "aws" provider uses) and of the EBS direct APIs (ListSnapshotBlocks,
# GetSnapshotBlock), for tests/bats/aws.bats. No emulator of the EBS direct
# APIs exists (moto and LocalStack's free edition have none), so this plays
# both services on one loopback TLS port, standard library only.
#
# It checks what it receives, so the test can fail: every request must
# carry an AWS4-HMAC-SHA256 Authorization header whose signature is right
# for the configured secret (recomputed here: canonical request, string to
# sign, HMAC chain), an x-amz-date of the credential's day, the service
# matching the path (ec2 for POST /, ebs for /snapshots/), and the session
# token when one is configured (and none when none is); otherwise 403
# (AuthFailure /
# SignatureDoesNotMatch). Unsigned GET /fake/state tells the test what
# exists (snapshots, deleted ones, counters).
#
# Usage: fakeaws.py CONF.json - CONF: cert, key, portfile, access_key,
#   secret, token (optional), instances: [{id, type, name, state, macs,
#   enis_reversed (listed eth-last first), boot_mode, current_boot_mode,
#   volumes: [{id, device, file, size_gib}]}], types: {type:
#   [vcpus, mib]}, throttle_every (every Nth GetSnapshotBlock first gets a
#   503), corrupt_block (index whose checksum is wrong), bogus_block (an
#   index listed beyond the volume), ec2_throttle_every (every Nth EC2
#   call gets 503 RequestLimitExceeded), retry_after (the Retry-After of
#   those 503s, and of throttle_every's: 0 by default), pending_polls
#   (DescribeSnapshots answers "pending" that many times), page_size
#   (DescribeInstances pages hold at most that many), block_throttle
#   (every GetSnapshotBlock gets 503 with Retry-After: 1, for good),
#   block_stall (every GetSnapshotBlock waits an hour unanswered),
#   create_fails (CreateSnapshots makes the snapshots, then answers 503
#   as if its reply were lost), task_pending_polls (DescribeExportImageTasks
#   answers "active" that many times; pending_polls by default),
#   export_lost (ExportImage starts the task, then holds its reply while
#   export_lost stays set and closes the connection without one: a lost
#   reply). Unsigned GET /fake/set?KEY=N changes one of those while it
#   runs.
#
# Mode export's S3 side is the real s3rver (tests/npm/s3/start.js): CONF
#   s3: {port, region (optional)}. An export task writes its object there
#   from its start (PUT, signed with the same key, as VM Import/Export
#   writes into the bucket while the task is active). ExportImage must
#   carry a ClientToken (a retry with the same one gets the same task;
#   with other parameters IdempotentParameterMismatch), the tag
#   hyperspool-job=ID on the export-image-task and an S3Prefix ending in
#   hs-ID/, or it is refused. DescribeExportImageTasks takes task IDs or
#   the task-state filter, the only one EC2 documents (any other is
#   refused), and lists each task's tagSet. CancelExportTask stops an
#   active task; unlike EC2, which removes the partial object, it leaves
#   what the task wrote, so the tests show that hyperspool removes it
#   itself (a task past its final transfer cannot be cancelled and
#   writes anyway).
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONF = json.load(open(sys.argv[1]))
BLOCK = 512 * 1024
NS = 'http://ec2.amazonaws.com/doc/2016-11-15/'
LOCK = threading.Lock()
STATE = {'snapshots': {}, 'deleted': [], 'created': 0, 'block_gets': 0,
         'throttled': 0, 'refused': [], 'polls': 0, 'requests': 0,
         'images': {}, 'deregistered': [], 'tasks': {},
         'cancelled': [], 'tokens': {}}


def enc(s):
    return urllib.parse.quote(s, safe='-_.~')


def sigv4_problem(h, method, raw_path, body):
    auth = h.get('Authorization', '')
    m = re.fullmatch(r'AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/'
                     r'([^/]+)/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?'
                     r'Signature=([0-9a-f]{64})', auth)
    if not m:
        return 'no AWS4-HMAC-SHA256 Authorization header'
    akid, day, region, service, signed, sig = m.groups()
    if akid != CONF['access_key']:
        return 'unknown access key'
    date = h.get('x-amz-date', '')
    if not re.fullmatch(r'\d{8}T\d{6}Z', date) or date[:8] != day:
        return 'x-amz-date missing or not the credential day'
    if raw_path.startswith('/snapshots/'):
        want_service = 'ebs'
    elif method == 'POST' and raw_path == '/':
        want_service = 'ec2'
    else:
        want_service = 's3'
    if service != want_service:
        return 'signed for service %s, not %s' % (service, want_service)
    names = signed.split(';')
    if 'host' not in names or 'x-amz-date' not in names:
        return 'host and x-amz-date must be signed'
    if 'token' in CONF and (h.get('x-amz-security-token') != CONF['token'] or
                            'x-amz-security-token' not in names):
        return 'session token missing, wrong or unsigned'
    if 'token' not in CONF and 'x-amz-security-token' in h:
        return 'a session token the credential does not have'
    path, _, query = raw_path.partition('?')
    q = sorted((enc(urllib.parse.unquote_plus(k)),
                enc(urllib.parse.unquote_plus(v)))
               for k, _, v in (p.partition('=') for p in query.split('&') if p))
    canon = '\n'.join([
        method, path, '&'.join('%s=%s' % kv for kv in q),
        ''.join('%s:%s\n' % (n, ' '.join(str(h.get(n, '')).split()))
                for n in names),
        signed,
        h.get('x-amz-content-sha256') or hashlib.sha256(body).hexdigest()])
    scope = '%s/%s/%s/aws4_request' % (day, region, service)
    sts = '\n'.join(['AWS4-HMAC-SHA256', date, scope,
                     hashlib.sha256(canon.encode()).hexdigest()])
    k = ('AWS4' + CONF['secret']).encode()
    for part in (day, region, service, 'aws4_request'):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    if hmac.new(k, sts.encode(), hashlib.sha256).hexdigest() != sig:
        return 'SignatureDoesNotMatch'
    return None


def s3_put(bucket, key, path):
    """The export task's object into s3rver, signed (SigV4, s3)."""
    port = CONF['s3']['port']
    date = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())
    day = date[:8]
    region = CONF['s3'].get('region', 'us-east-1')
    uri = '/%s/%s' % (bucket, urllib.parse.quote(key, safe='/-_.~'))
    h = {'host': '127.0.0.1:%d' % port, 'x-amz-date': date,
         'x-amz-content-sha256': 'UNSIGNED-PAYLOAD'}
    if 'token' in CONF:
        h['x-amz-security-token'] = CONF['token']
    names = sorted(h)
    canon = '\n'.join(['PUT', uri, '',
                       ''.join('%s:%s\n' % (n, h[n]) for n in names),
                       ';'.join(names), 'UNSIGNED-PAYLOAD'])
    scope = '%s/%s/s3/aws4_request' % (day, region)
    sts = '\n'.join(['AWS4-HMAC-SHA256', date, scope,
                     hashlib.sha256(canon.encode()).hexdigest()])
    k = ('AWS4' + CONF['secret']).encode()
    for part in (day, region, 's3', 'aws4_request'):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    h['Authorization'] = (
        'AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s'
        % (CONF['access_key'], scope, ';'.join(names),
           hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()))
    h['Content-Length'] = str(os.path.getsize(path))
    c = http.client.HTTPSConnection('127.0.0.1', port, context=ssl.
                                    create_default_context(cafile=CONF['cert']))
    with open(path, 'rb') as f:
        c.request('PUT', uri, body=f, headers=h)
        r = c.getresponse()
        r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError('s3rver PUT %s: HTTP %d' % (uri, r.status))


def task_write(t):
    """The task writes PREFIX TASK.raw into the bucket (VM Import/Export's
    name for it)."""
    s3_put(t['bucket'], '%s%s.raw' % (t['prefix'], t['id']), t['file'])


def task_xml(t):
    return ('<item><exportImageTaskId>%s</exportImageTaskId>'
            '<imageId>%s</imageId><status>%s</status><s3ExportLocation>'
            '<s3Bucket>%s</s3Bucket><s3Prefix>%s</s3Prefix>'
            '</s3ExportLocation><tagSet><item><key>hyperspool-job</key>'
            '<value>%s</value></item></tagSet></item>'
            % (t['id'], t['image'], t['status'], t['bucket'], t['prefix'],
               t['tag']))


def instance(iid):
    for i in CONF['instances']:
        if i['id'] == iid:
            return i
    return None


def instance_xml(i):
    vols = ''.join(
        '<item><deviceName>%s</deviceName><ebs><volumeId>%s</volumeId>'
        '<status>attached</status></ebs></item>' % (v['device'], v['id'])
        for v in i['volumes'])
    enis = [
        '<item><networkInterfaceId>eni-%d</networkInterfaceId>'
        '<macAddress>%s</macAddress><attachment><deviceIndex>%d'
        '</deviceIndex></attachment></item>' % (n, mac, n)
        for n, mac in enumerate(i['macs'])]
    if i.get('enis_reversed'):
        enis.reverse()  # EC2 promises no order: eth1 may come first
    enis = ''.join(enis)
    current = ''
    if 'current_boot_mode' in i:
        current = ('<currentInstanceBootMode>%s</currentInstanceBootMode>'
                   % i['current_boot_mode'])
    return ('<item><instanceId>%s</instanceId><instanceType>%s</instanceType>'
            '<instanceState><code>16</code><name>%s</name></instanceState>'
            '<rootDeviceName>%s</rootDeviceName>'
            '<bootMode>%s</bootMode>%s'
            '<blockDeviceMapping>%s</blockDeviceMapping>'
            '<networkInterfaceSet>%s</networkInterfaceSet>'
            '<tagSet><item><key>Name</key><value>%s</value></item></tagSet>'
            '</item>' % (i['id'], i['type'], i['state'],
                         i['volumes'][0]['device'], i.get('boot_mode',
                                                          'legacy-bios'),
                         current, vols, enis, i['name']))


def snap_xml(s):
    return ('<item><snapshotId>%s</snapshotId><volumeId>%s</volumeId>'
            '<status>%s</status><volumeSize>%d</volumeSize>'
            '<tagSet><item><key>hyperspool-job</key><value>%s</value></item>'
            '</tagSet></item>' % (s['id'], s['volume'], s['status'],
                                  s['size_gib'], s['tag']))


def nonzero_blocks(path, size_gib):
    out = []
    with open(path, 'rb') as f:
        i = 0
        while True:
            b = f.read(BLOCK)
            if not b:
                break
            if b.count(0) != len(b):
                out.append(i)
            i += 1
    return [i for i in out if i < size_gib * 1024 * 2]


class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype='text/xml', headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def ec2_error(self, code, ecode, msg, headers=()):
        self.reply(code, '<?xml version="1.0" encoding="UTF-8"?><Response>'
                   '<Errors><Error><Code>%s</Code><Message>%s</Message>'
                   '</Error></Errors><RequestID>fake</RequestID></Response>'
                   % (ecode, msg), headers=headers)

    def refuse(self, why):
        with LOCK:
            STATE['refused'].append(why)
        if self.path.startswith('/snapshots/'):
            self.reply(403, json.dumps({'Message': why}), 'application/json')
        else:
            self.ec2_error(401 if why != 'SignatureDoesNotMatch' else 403,
                           'AuthFailure' if why != 'SignatureDoesNotMatch'
                           else 'SignatureDoesNotMatch', why)

    def do_GET(self):
        if self.path == '/fake/state':
            with LOCK:
                self.reply(200, json.dumps(STATE), 'application/json')
            return
        if self.path.startswith('/fake/set?'):
            # the test changes a fault setting, e.g. pending_polls=0
            for k, v in urllib.parse.parse_qsl(self.path[10:]):
                CONF[k] = int(v)
            self.reply(200, '{}', 'application/json')
            return
        with LOCK:
            STATE['requests'] += 1
        why = sigv4_problem(self.headers, 'GET', self.path, b'')
        if why:
            return self.refuse(why)
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        m = re.fullmatch(r'/snapshots/(snap-[0-9a-f]+)/blocks(?:/(\d+))?',
                         u.path)
        if not m:
            return self.reply(404, '{}', 'application/json')
        with LOCK:
            s = STATE['snapshots'].get(m.group(1))
        if s is None or s['status'] != 'completed':
            return self.reply(404, json.dumps(
                {'Message': 'no such snapshot', 'Reason': 'SNAPSHOT_NOT_FOUND'}),
                'application/json')
        if m.group(2) is None:
            return self.list_blocks(s, q)
        self.get_block(s, int(m.group(2)), q.get('blockToken', ''))

    def list_blocks(self, s, q):
        start = int(q.get('pageToken') or 0)
        n = int(q.get('maxResults', 10000))
        blocks = s['blocks'][start:start + n]
        if 'bogus_block' in CONF and start == 0:
            blocks = blocks + [CONF['bogus_block']]
        nxt = start + n if start + n < len(s['blocks']) else None
        doc = {'Blocks': [{'BlockIndex': b, 'BlockToken':
                           base64.b64encode(b'tok/%d+%s' % (b, s['id'].encode()))
                           .decode()} for b in blocks],
               'BlockSize': BLOCK, 'VolumeSize': s['size_gib'],
               'ExpiryTime': 1.9e9}
        if nxt is not None:
            doc['NextToken'] = str(nxt)
        self.reply(200, json.dumps(doc), 'application/json')

    def get_block(self, s, idx, token):
        want = base64.b64encode(b'tok/%d+%s' % (idx, s['id'].encode())).decode()
        if token != want or idx not in s['blocks']:
            return self.reply(400, json.dumps({'Message': 'bad block token'}),
                              'application/json')
        if CONF.get('block_stall'):
            # a server that never answers: only a timeout ends the request
            with LOCK:
                STATE['stalled'] = STATE.get('stalled', 0) + 1
            time.sleep(3600)
            return
        if CONF.get('block_throttle'):
            # throttled for good, each reply asking to come back in 1 s
            with LOCK:
                STATE['throttled'] += 1
            return self.reply(503, json.dumps(
                {'Message': 'Rate exceeded', 'Reason': 'ThrottlingException'}),
                'application/json', [('Retry-After', '1')])
        with LOCK:
            STATE['block_gets'] += 1
            every = CONF.get('throttle_every', 0)
            key = '%s/%d' % (s['id'], idx)
            if every and STATE['block_gets'] % every == 0 and \
                    key not in s['throttled']:
                s['throttled'].append(key)
                STATE['throttled'] += 1
                self.reply(503, json.dumps({'Message': 'Rate exceeded',
                                            'Reason': 'ThrottlingException'}),
                           'application/json',
                           [('Retry-After', str(CONF.get('retry_after', 0)))])
                return
        with open(s['file'], 'rb') as f:
            f.seek(idx * BLOCK)
            data = f.read(BLOCK)
        data += bytes(BLOCK - len(data))
        digest = hashlib.sha256(data).digest()
        if idx == CONF.get('corrupt_block', -1):
            digest = hashlib.sha256(b'not this block').digest()
        self.reply(200, data, 'application/octet-stream', [
            ('x-amz-Checksum', base64.b64encode(digest).decode()),
            ('x-amz-Checksum-Algorithm', 'SHA256'),
            ('x-amz-Data-Length', str(len(data)))])

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with LOCK:
            STATE['requests'] += 1
        why = sigv4_problem(self.headers, 'POST', self.path, body)
        if why:
            return self.refuse(why)
        p = dict(urllib.parse.parse_qsl(body.decode()))
        act = p.get('Action')
        with LOCK:
            STATE['ec2_calls'] = STATE.get('ec2_calls', 0) + 1
            every = CONF.get('ec2_throttle_every', 0)
            throttle = every and STATE['ec2_calls'] % every == 0
            if throttle:
                STATE['ec2_throttled'] = STATE.get('ec2_throttled', 0) + 1
        if throttle:
            ra = [('Retry-After', str(CONF['retry_after']))] \
                if 'retry_after' in CONF else []
            return self.ec2_error(503, 'RequestLimitExceeded',
                                  'Request limit exceeded.', ra)
        fn = getattr(self, 'ec2_' + str(act), None)
        if fn is None:
            return self.ec2_error(400, 'InvalidAction', str(act))
        fn(p)

    def ok(self, action, inner):
        self.reply(200, '<?xml version="1.0" encoding="UTF-8"?><%sResponse '
                   'xmlns="%s"><requestId>fake</requestId>%s</%sResponse>'
                   % (action, NS, inner, action))

    def ec2_DescribeRegions(self, p):
        self.ok('DescribeRegions', '<regionInfo><item><regionName>us-east-1'
                '</regionName></item><item><regionName>eu-west-3</regionName>'
                '</item></regionInfo>')

    def ec2_DescribeInstances(self, p):
        ids = [v for k, v in p.items() if k.startswith('InstanceId.')]
        found = [i for i in CONF['instances'] if not ids or i['id'] in ids]
        if ids and len(found) != len(ids):
            return self.ec2_error(400, 'InvalidInstanceID.NotFound',
                                  'The instance ID %s does not exist' % ids[0])
        nxt = ''
        if 'MaxResults' in p:
            # as EC2: 5..1000, not with instance IDs; page_size makes the
            # fake answer shorter pages than asked, as EC2 may
            n = int(p['MaxResults'])
            if ids or not 5 <= n <= 1000:
                return self.ec2_error(400, 'InvalidParameterValue',
                                      'MaxResults')
            start = int(p.get('NextToken') or 0)
            n = min(n, CONF.get('page_size', n))
            if start + n < len(found):
                nxt = '<nextToken>%d</nextToken>' % (start + n)
            found = found[start:start + n]
        with LOCK:
            STATE['describe_instances'] = \
                STATE.get('describe_instances', 0) + 1
        self.ok('DescribeInstances', '<reservationSet><item><instancesSet>%s'
                '</instancesSet></item></reservationSet>%s'
                % (''.join(instance_xml(i) for i in found), nxt))

    def ec2_DescribeVolumes(self, p):
        # as EC2: volume IDs, each must exist, no MaxResults with them
        ids = [v for k, v in sorted(p.items()) if k.startswith('VolumeId.')]
        vols = {v['id']: v for i in CONF['instances'] for v in i['volumes']}
        if 'MaxResults' in p and ids:
            return self.ec2_error(400, 'InvalidParameterCombination',
                                  'MaxResults with VolumeId')
        for v in ids:
            if v not in vols:
                return self.ec2_error(400, 'InvalidVolume.NotFound',
                                      'The volume %s does not exist' % v)
        with LOCK:
            STATE['describe_volumes'] = STATE.get('describe_volumes', 0) + 1
        self.ok('DescribeVolumes', '<volumeSet>%s</volumeSet>' % ''.join(
            '<item><volumeId>%s</volumeId><size>%d</size><snapshotId/>'
            '<status>in-use</status></item>' % (v, vols[v]['size_gib'])
            for v in (ids or list(vols))))

    def ec2_DescribeInstanceTypes(self, p):
        items = ''
        for k, t in p.items():
            if k.startswith('InstanceType.') and t in CONF['types']:
                c, mib = CONF['types'][t]
                items += ('<item><instanceType>%s</instanceType><vCpuInfo>'
                          '<defaultVCpus>%d</defaultVCpus></vCpuInfo>'
                          '<memoryInfo><sizeInMiB>%d</sizeInMiB></memoryInfo>'
                          '</item>' % (t, c, mib))
        self.ok('DescribeInstanceTypes',
                '<instanceTypeSet>%s</instanceTypeSet>' % items)

    def ec2_CreateSnapshots(self, p):
        i = instance(p.get('InstanceSpecification.InstanceId', ''))
        if i is None:
            return self.ec2_error(400, 'InvalidInstanceID.NotFound', 'no')
        tag = ''
        if p.get('TagSpecification.1.ResourceType') == 'snapshot':
            tag = p.get('TagSpecification.1.Tag.1.Value', '')
        items = ''
        with LOCK:
            for v in i['volumes']:
                STATE['created'] += 1
                sid = 'snap-%017x' % (0xa000 + STATE['created'])
                s = {'id': sid, 'volume': v['id'], 'status': 'pending',
                     'size_gib': v['size_gib'], 'tag': tag, 'file': v['file'],
                     'blocks': nonzero_blocks(v['file'], v['size_gib']),
                     'polls': 0, 'throttled': []}
                STATE['snapshots'][sid] = s
                items += snap_xml(s)
        if CONF.get('create_fails'):
            # made, but the caller never hears of them (a lost reply)
            return self.ec2_error(503, 'InternalError', 'try again')
        self.ok('CreateSnapshots', '<snapshotSet>%s</snapshotSet>' % items)

    def ec2_DescribeSnapshots(self, p):
        ids = [v for k, v in p.items() if k.startswith('SnapshotId.')]
        tag = None
        if p.get('Filter.1.Name') == 'tag:hyperspool-job':
            tag = p.get('Filter.1.Value.1')
        out = ''
        with LOCK:
            STATE['polls'] += 1
            for s in STATE['snapshots'].values():
                if (ids and s['id'] not in ids) or \
                        (tag is not None and s['tag'] != tag):
                    continue
                s['polls'] += 1
                if s['status'] == 'pending' and \
                        s['polls'] > CONF.get('pending_polls', 1):
                    s['status'] = 'completed'
                out += snap_xml(s)
        self.ok('DescribeSnapshots', '<snapshotSet>%s</snapshotSet>' % out)

    def ec2_CreateImage(self, p):
        i = instance(p.get('InstanceId', ''))
        if i is None:
            return self.ec2_error(400, 'InvalidInstanceID.NotFound', 'no')
        tag = p.get('TagSpecification.1.Tag.1.Value', '')
        with LOCK:
            STATE['created'] += 1
            iid = 'ami-%017x' % (0xb000 + STATE['created'])
            snaps = []
            for v in i['volumes']:
                STATE['created'] += 1
                sid = 'snap-%017x' % (0xa000 + STATE['created'])
                STATE['snapshots'][sid] = {
                    'id': sid, 'volume': v['id'], 'status': 'completed',
                    'size_gib': v['size_gib'], 'tag': tag, 'file': v['file'],
                    'blocks': [], 'polls': 0, 'throttled': [], 'image': iid}
                snaps.append(sid)
            STATE['images'][iid] = {'id': iid, 'tag': tag, 'state': 'pending',
                                    'polls': 0, 'snaps': snaps,
                                    'file': i['volumes'][0]['file']}
        self.ok('CreateImage', '<imageId>%s</imageId>' % iid)

    def image_xml(self, im):
        bdm = ''.join('<item><deviceName>/dev/xvd%s</deviceName><ebs>'
                      '<snapshotId>%s</snapshotId></ebs></item>'
                      % (chr(97 + n), sid) for n, sid in enumerate(im['snaps']))
        return ('<item><imageId>%s</imageId><imageState>%s</imageState>'
                '<blockDeviceMapping>%s</blockDeviceMapping></item>'
                % (im['id'], im['state'], bdm))

    def ec2_DescribeImages(self, p):
        ids = [v for k, v in p.items() if k.startswith('ImageId.')]
        tag = None
        if p.get('Filter.1.Name') == 'tag:hyperspool-job':
            tag = p.get('Filter.1.Value.1')
        out = ''
        with LOCK:
            for im in STATE['images'].values():
                if (ids and im['id'] not in ids) or \
                        (tag is not None and im['tag'] != tag):
                    continue
                im['polls'] += 1
                if im['state'] == 'pending' and \
                        im['polls'] > CONF.get('pending_polls', 1):
                    im['state'] = 'available'
                out += self.image_xml(im)
        self.ok('DescribeImages', '<imagesSet>%s</imagesSet>' % out)

    def ec2_DeregisterImage(self, p):
        iid = p.get('ImageId', '')
        with LOCK:
            if STATE['images'].pop(iid, None) is None:
                return self.ec2_error(400, 'InvalidAMIID.NotFound', iid)
            STATE['deregistered'].append(iid)
        self.ok('DeregisterImage', '<return>true</return>')

    def ec2_ExportImage(self, p):
        iid = p.get('ImageId', '')
        tag = p.get('TagSpecification.1.Tag.1.Value', '')
        prefix = p.get('S3ExportLocation.S3Prefix', '')
        token = p.get('ClientToken', '')
        if p.get('DiskImageFormat') != 'RAW' or \
                p.get('RoleName') != CONF.get('role', 'vmimport'):
            return self.ec2_error(400, 'InvalidParameter', 'format/role')
        if p.get('TagSpecification.1.ResourceType') != 'export-image-task' \
                or p.get('TagSpecification.1.Tag.1.Key') != 'hyperspool-job' \
                or not tag or not prefix.endswith('hs-%s/' % tag) or not token:
            return self.ec2_error(400, 'InvalidParameter',
                                  'the fake wants a ClientToken, the task '
                                  'tagged hyperspool-job=ID, prefix .../hs-ID/')
        with LOCK:
            old = STATE['tokens'].get(token)
            if old is not None:
                t = STATE['tasks'][old]
                if t['image'] != iid or t['prefix'] != prefix:
                    return self.ec2_error(400, 'IdempotentParameterMismatch',
                                          token)
                return self.ok('ExportImage', '<exportImageTaskId>%s'
                               '</exportImageTaskId><status>%s</status>'
                               % (old, t['status']))
            im = STATE['images'].get(iid)
            if im is None or im['state'] != 'available':
                return self.ec2_error(400, 'InvalidAMIID.NotFound', iid)
            tid = 'export-ami-%017x' % (0xc000 + len(STATE['tasks']))
            t = STATE['tasks'][tid] = {
                'id': tid, 'polls': 0, 'status': 'active', 'image': iid,
                'bucket': p.get('S3ExportLocation.S3Bucket', ''),
                'prefix': prefix, 'tag': tag, 'file': im['file']}
            STATE['tokens'][token] = tid
        # the task runs: its object is in the bucket from the start, as a
        # real one writes it while active
        task_write(t)
        if CONF.get('export_lost'):
            # the reply never comes
            while CONF.get('export_lost'):
                time.sleep(0.1)
            self.close_connection = True
            return
        self.ok('ExportImage', '<exportImageTaskId>%s</exportImageTaskId>'
                '<status>active</status>' % tid)

    def ec2_DescribeExportImageTasks(self, p):
        ids = [v for k, v in p.items() if k.startswith('ExportImageTaskId.')]
        state = None
        if 'Filter.1.Name' in p:
            if p['Filter.1.Name'] != 'task-state' or 'Filter.2.Name' in p:
                return self.ec2_error(400, 'InvalidParameterValue',
                                      'filter: task-state only')
            state = p.get('Filter.1.Value.1')
        out = ''
        with LOCK:
            for tid in ids:
                if tid not in STATE['tasks']:
                    return self.ec2_error(
                        400, 'InvalidExportImageTaskId.NotFound', tid)
            for t in STATE['tasks'].values():
                if ids and t['id'] not in ids:
                    continue
                if ids:
                    t['polls'] += 1
                    if t['status'] == 'active' and t['polls'] > \
                            CONF.get('task_pending_polls',
                                     CONF.get('pending_polls', 1)):
                        t['status'] = 'completed'
                if state is None or t['status'] == state:
                    out += task_xml(t)
        self.ok('DescribeExportImageTasks',
                '<exportImageTaskSet>%s</exportImageTaskSet>' % out)

    def ec2_CancelExportTask(self, p):
        tid = p.get('ExportTaskId', '')
        with LOCK:
            t = STATE['tasks'].get(tid)
            if t is None:
                return self.ec2_error(400, 'InvalidExportTaskID.NotFound', tid)
            if t['status'] != 'active':
                return self.ec2_error(400, 'IncorrectState',
                                      'the task is %s' % t['status'])
            t['status'] = 'deleted'
            STATE['cancelled'].append(tid)
        self.ok('CancelExportTask', '<return>true</return>')

    def ec2_DeleteSnapshot(self, p):
        sid = p.get('SnapshotId', '')
        with LOCK:
            snap = STATE['snapshots'].get(sid)
            if snap is None:
                return self.ec2_error(400, 'InvalidSnapshot.NotFound', sid)
            if snap.get('image') in STATE['images']:
                return self.ec2_error(400, 'InvalidSnapshot.InUse', sid)
            del STATE['snapshots'][sid]
            STATE['deleted'].append(sid)
        self.ok('DeleteSnapshot', '<return>true</return>')


srv = ThreadingHTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CONF['cert'], CONF['key'])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
tmp = CONF['portfile'] + '.tmp'
with open(tmp, 'w') as f:
    f.write('%d\n' % srv.server_address[1])
os.rename(tmp, CONF['portfile'])
srv.serve_forever()
