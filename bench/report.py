"""What ``bench/run.py`` writes at the end: ``docs/performance.rst``, the
plots in ``docs/_static/``, and a compact summary of all ratios.

*results* is a dict with the keys the run filled: ``server``,
``throughput``, ``costs``, ``stall``, ``seed``, ``fanout``, ``latency``.
"""

import datetime
import itertools
import json
import os
import platform

import fanout
import stall
import throughput
from common import BODY, DOCS, ROOT, log


def versions():
    from importlib.metadata import version
    found = {'python': platform.python_version()}
    for name in ('gevent', 'httptools', 'orjson', 'aiohttp', 'httpx', 'geventhttpclient',
                 'grequests', 'requests'):
        try:
            found[name] = version(name)
        except Exception:
            pass
    return found


def cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


# --- the summary at the end of the run -----------------------------------------------

def print_summary(results):
    """One line per comparison: how many times better ours is (>1: ours wins)."""
    log('=' * 78)
    log('SUMMARY (ratios are medians of per-round ratios; > 1.00x means ours is better)')
    for lib, row in sorted(results.get('throughput', {}).items(), key=lambda kv: -kv[1]['rps']):
        if lib != 'napix':
            log('  throughput   ours / {0:<32} {1:6.2f}x  ({2:,.0f} vs {3:,.0f} req/s)'.format(
                throughput.LABELS[lib], row['ratio'] or 0,
                results['throughput']['napix']['rps'], row['rps']))
    stalls = results.get('stall', {})
    for lib, row in stalls.items():
        if lib != 'napix':
            log('  stall        {0:<25} / ours {1:6.2f}x  ({2:.2f} vs {3:.2f} ms per '
                'request)'.format(stall.LABELS[lib], row['ratio'] or 0, row['median_ms'],
                                  stalls['napix']['median_ms']))
    if 'napix' in stalls:
        log('  stall        ours: {0:.2f} ms per keep-alive request'.format(
            stalls['napix']['median_ms']))
    for (pool, scheme, gc_), row in results.get('seed', {}).items():
        if pool == 'new-pool':
            if 'per_call_ms' not in row:
                log('  seed         new pool per call, {0}, gc {1}: {2}'.format(
                    scheme, gc_, 'timed out' if row.get('timed_out') else 'failed'))
                continue
            log('  seed         new pool / one pool, {0:<5} gc {1:<3} {2:6.2f}x slower  '
                '(client fds {3}, server sockets {4} left after the run)'.format(
                    scheme, gc_, row.get('ratio', 0), row['fds_run'] - row['fds_before'],
                    row['server_run']))
    for answers, by_hosts in results.get('fanout', {}).items():
        for hosts, by_lib in by_hosts.items():
            cells = []
            for lib, row in by_lib.items():
                if 'seconds' in row:
                    cells.append('{0} {1:.2f} s {2:.0f} MB, {3} failures'.format(
                        lib, row['seconds'], row['peak_rss_mb'], row['failures']))
                else:
                    cells.append('{0} {1}'.format(lib, fanout.timed_out(row)
                                                  if row.get('timed_out') else 'FAILED'))
            ratio = by_lib.get('napix', {}).get('ratio')
            log('  fan-out {0:>7} hosts, answers {1}: {2}{3}'.format(
                hosts, answers, '; '.join(cells),
                '  -> aiohttp / ours {0:.2f}x'.format(ratio) if ratio else ''))
    latency = results.get('latency')
    if latency:
        log('  latency-bound  {0:.2f}x the ideal'.format(latency['seconds'] / latency['ideal']))
    log('=' * 78)


# --- the plots -------------------------------------------------------------------

def plot(results, out_dir):
    try:
        import matplotlib
        import matplotlib.ticker
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        log('matplotlib not installed: no plots')
        return []
    os.makedirs(out_dir, exist_ok=True)
    written = []

    def save(fig, name):
        fig.tight_layout()
        path = os.path.join(out_dir, name)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    summary = results.get('throughput')
    if summary:
        rows = sorted(summary.items(), key=lambda kv: kv[1]['rps'])
        fig, ax = plt.subplots(figsize=(7, 3.6))
        colors = ['#d62728' if lib == 'napix' else '#7f7f7f' if lib == 'floor' else '#1f77b4'
                  for lib, _ in rows]
        ax.barh([throughput.LABELS[lib] for lib, _ in rows], [r['rps'] for _, r in rows],
                color=colors)
        for i, (_, r) in enumerate(rows):
            ax.text(r['rps'], i, ' {0:,.0f}'.format(r['rps']), va='center', fontsize=8)
        ax.set_xlabel('requests per second (median of rounds; higher is better)')
        ax.set_xlim(0, max(r['rps'] for _, r in rows) * 1.18)
        ax.set_title('GET + JSON decoding, one local nginx, same concurrency', fontsize=10)
        save(fig, 'bench_throughput.png')
    stalls = results.get('stall')
    if stalls:
        fig, ax = plt.subplots(figsize=(7, 2.6))
        labels = [stall.LABELS[lib] for lib in stalls]
        values = [row['median_ms'] for row in stalls.values()]
        ax.barh(labels, values, color=['#d62728' if lib == 'napix' else '#1f77b4'
                                       for lib in stalls])
        for i, value in enumerate(values):
            ax.text(value, i, ' {0:.2f} ms'.format(value), va='center', fontsize=8)
        ax.set_xlim(0, max(values) * 1.25)
        ax.set_xlabel('median ms per sequential keep-alive request (lower is better)')
        ax.set_title('gevent pywsgi server (head and body in two sends)', fontsize=10)
        save(fig, 'bench_stall.png')
    scale = results.get('fanout')
    if scale:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for (lib, color), (answers, style) in itertools.product(
                (('napix', '#d62728'), ('aiohttp', '#1f77b4')), (('keep', 'o-'), ('drop', 's--'))):
            by_hosts = scale.get(answers, {})
            points = [(h, by[lib]['seconds']) for h, by in by_hosts.items()
                      if lib in by and 'seconds' in by[lib] and not by[lib]['failures']]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], style, color=color,
                        label='{0}, answers {1}'.format(fanout.LABELS[lib], answers))
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter('%g'))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel('distinct hosts, one request each')
        ax.set_ylabel('seconds (runs without failures)')
        ax.legend()
        ax.set_title('Fan-out: time vs number of hosts', fontsize=10)
        save(fig, 'bench_hosts.png')
    return written


# --- docs/performance.rst ----------------------------------------------------------

def _table(header, rows):
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    line = '  '.join('=' * w for w in widths)

    def fmt(cells):
        return '  '.join(str(cells[i]).ljust(w) for i, w in enumerate(widths)).rstrip()
    return '\n'.join([line, fmt(header), line] + [fmt(r) for r in rows] + [line])


def _image(images, name, alt):
    if any(p.endswith(name) for p in images):
        return ['.. image:: _static/' + name, '   :alt: ' + alt, '']
    return []


def _throughput_section(args, summary, costs, images):
    lines = ['Throughput', '==========', '',
             'Each library sends {0:,} ``GET`` requests to one host with {1} in flight '
             '(after {2:,} warm-up requests), on keep-alive connections, and decodes every '
             'JSON body ({3} bytes). Ours also signs each request with '
             ':class:`~napix.authenticators.LoginAuthenticator` (HMAC-SHA256, a fresh nonce); '
             'the server does not check signatures, which changes nothing on the client '
             'side. Each library runs in its own process, rounds interleaved, {4} rounds; '
             'the table shows medians. *Ours / it* is how many times faster ours is '
             '(the median of the ratios within each round); '
             '*CPU* is the client process\'s CPU time per request; *connections* is the '
             'most the server accepted in one run (keep-alive really reused).'.format(
                 args.requests, args.concurrency, args.warmup, len(json.dumps(BODY)),
                 args.rounds), '']
    rows = [[throughput.LABELS[lib], '{0:,.0f}'.format(row['rps']),
             '{0:.2f}x'.format(row['ratio']) if row['ratio'] else '-',
             '{0:.1f} µs'.format(row['cpu_us']), row['connections']]
            for lib, row in sorted(summary.items(), key=lambda kv: -kv[1]['rps'])]
    lines += [_table(['Library', 'Requests/s', 'Ours / it', 'CPU / request',
                      'Connections'], rows), '',
              'The *floor* is a plain keep-alive loop on gevent sockets with '
              '``json.loads``, sending a fixed request and parsing only '
              '``Content-Length``: no signing, no header parsing, no error handling. '
              'No client can do much better; ours pays for signing, header parsing, '
              'timeouts and error handling on top of it.', '']
    lines += _image(images, 'bench_throughput.png', 'requests per second per library')
    if costs:
        ours = summary.get('napix', {}).get('cpu_us')
        lines += ['Where the time goes', '-------------------', '',
                  'The pure-Python steps of one request, each timed alone in a loop '
                  '(``bench/layers.py``, best of 7){0}. The rest is system calls (``send``, '
                  '``recv``, ``epoll``), greenlet switches, the garbage collector and the '
                  'calls between the layers, which ``bench/hotpath.py --py-spy`` shows.'.format(
                      ', against {0:.0f} µs of CPU per request in the run above'.format(ours)
                      if ours else ''), '']
        rows = [[name, '{0:.2f} µs'.format(micros)] for name, micros in costs.items()]
        rows.append(['total of these steps', '{0:.2f} µs'.format(sum(costs.values()))])
        lines += [_table(['Step', 'Cost'], rows), '']
    return lines


def _stall_section(args, stalls, images):
    lines = ['Keep-alive stall', '================', '',
             '{0} sequential ``GET`` requests on one keep-alive connection to a plain gevent '
             '``pywsgi.WSGIServer`` (the server napixd runs on) answering a small JSON. That '
             'server writes the head and the body of a response in two ``send`` calls without '
             '``TCP_NODELAY``: Nagle\'s algorithm holds the body back until the client '
             'acknowledges the head, and a client whose kernel delays that acknowledgement '
             '(up to 40 ms on Linux) waits that long on every request. The table shows the '
             'median of requests 2 to {0} (the first opens the connection), the median over '
             '{1} round(s), each client in its own process; *it / ours* is how many times '
             'slower it is than ours.'.format(args.stall_requests, args.stall_rounds), '']
    rows = [[stall.LABELS[lib], '{0:.2f} ms'.format(row['median_ms']),
             '{0:.2f}x'.format(row['ratio']) if row['ratio'] else '-']
            for lib, row in stalls.items()]
    lines += [_table(['Client', 'Per request', 'It / ours'], rows), '']
    return lines + _image(images, 'bench_stall.png', 'milliseconds per keep-alive request')


def _seed_section(args, seed):
    lines = ['The seed pattern: a pool per call', '=================================', '',
             'Code written for the seed\'s client makes a new ``ClientPool`` in every call, '
             'sends a couple of requests and drops it without ``close()``. Here: {0:,} calls '
             'of 2 ``GET`` requests to one local server, plain HTTP and TLS (a certificate '
             'from a throwaway CA, verified), a new pool per call against one pool kept for '
             'the whole run, with the garbage collector on and off (``gc.disable()``), each '
             'variant in its own process. *Descriptors* are the client\'s open ones and '
             '*server sockets* the established connections on the server\'s port, right after '
             'the run and after ``gc.collect()`` (before the run: {1} and {2}).'.format(
                 args.seed_calls, *_seed_before(seed)), '']
    rows = []
    for (pool, scheme, gc_), row in seed.items():
        if 'per_call_ms' not in row:
            state = 'timed out' if row.get('timed_out') else 'failed'
            rows.append([pool, scheme, gc_, state, '-', '-', '-', '-'])
            continue
        rows.append([pool, scheme, gc_, '{0:.2f} ms'.format(row['per_call_ms']),
                     '{0:.2f}x'.format(row.get('ratio', 0)),
                     '{0} / {1}'.format(row['fds_run'], row['fds_gc']),
                     '{0} / {1}'.format(row['server_run'], row['server_gc']),
                     row['failures']])
    lines += [_table(['Pool', 'Scheme', 'GC', 'Per call', 'Vs one pool',
                      'Descriptors', 'Server sockets', 'Failures'], rows), '']
    return lines


def _seed_before(seed):
    done = [row for row in seed.values() if 'fds_before' in row]
    return (done[0]['fds_before'], done[0]['server_before']) if done else ('-', '-')


def _fanout_section(args, scale, images):
    lines = ['Fan-out to many hosts', '=====================', '',
             'One request to each of N distinct host names (``h0.bench``, ``h1.bench``...) '
             'routed to 8 ports of the same local nginx: ours through one ``ClientPool`` '
             '(each host its own client and sockets, *simultaneous* = 2, names routed with '
             '``resolve=``), aiohttp through one ``ClientSession`` on a '
             '``TCPConnector(limit=100)`` with 100 tasks and a resolver answering from the '
             'same table. Each run in its own process, killed after {0:.0f} s; the process '
             'may open {1} descriptors (``ulimit -n``). Memory is the peak resident size of '
             'the whole process; *peak descriptors* are sampled from outside every 0.1 s; '
             '*aiohttp / ours* is aiohttp\'s time over ours (the median of the rounds\' '
             'ratios; the libraries take turns going first).'.format(
                 args.time_limit, _nofile()), '',
             'Both do the same work with the answers. *keep*: every answer is kept until '
             'the end (ours: the seed\'s ``pool.wait()``, which returns them all; aiohttp: '
             'each status, headers and decoded body appended to a list, less than our '
             '``Response`` keeps), so the memory is '
             'mostly the answers a caller is handed. *drop*: each answer is checked and '
             'dropped as it comes (ours: ``pool.wait_unordered()``), so the memory is what '
             'the client itself holds on the way.', '']
    rows = []
    for answers, by_hosts in scale.items():
        for hosts, by_lib in by_hosts.items():
            for lib, row in by_lib.items():
                if 'seconds' in row:
                    time_, failures = '{0:.2f} s'.format(row['seconds']), row['failures']
                else:
                    time_ = fanout.timed_out(row) if row.get('timed_out') else 'failed'
                    failures = '-'
                rows.append(['{0:,}'.format(hosts), answers, fanout.LABELS[lib], time_,
                             '{0:.2f}x'.format(row['ratio']) if 'ratio' in row else '',
                             '{0:.0f} MB'.format(row['peak_rss_mb']), row['peak_fds'],
                             failures])
    lines += [_table(['Hosts', 'Answers', 'Client', 'Time', 'Aiohttp / ours', 'Peak RSS',
                      'Peak descriptors', 'Failures'], rows), '']
    return lines + _image(images, 'bench_hosts.png', 'time against the number of hosts')


def _nofile():
    import resource
    return '{0:,}'.format(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _latency_section(latency):
    return ['Latency-bound', '=============', '',
            '{0} hosts that each answer after 50 ms (a gevent server, '
            '``bench/servers.py``), 4 requests each, *simultaneous* = 2: the ideal is '
            '``ceil(4 / 2) * 50 ms`` = {1:.0f} ms plus the client\'s CPU time '
            '({2:.0f} ms). Measured: **{3:.0f} ms, {4:.2f}x the ideal**; peak RSS '
            '{5:.0f} MB; descriptors {6} / {7} / {8}; failures: {9}.'.format(
                latency['hosts'], latency['ideal_latency'] * 1000, latency['cpu'] * 1000,
                latency['seconds'] * 1000, latency['seconds'] / latency['ideal'],
                latency['peak_rss_mb'], latency['fds_before'], latency['fds_open'],
                latency['fds_after'], latency['failures']), '']


JSON_DECODER = (
    'JSON is decoded by orjson, which the library installs with itself on CPython (an '
    "install dependency with an environment marker; ``pip install '.[fast]'``, the "
    'former opt-in, still works and adds nothing). Elsewhere (PyPy) the standard '
    "library's ``json`` decodes, through :mod:`napix.models`' own call of its scanner; "
    "``bench/cost.py`` counts that path on responses shaped like nginx's, napixd's and "
    "Flask's, and CI keeps each under a fixed ceiling (``bench/README.rst``).")


def write_docs(args, pinning, results, images):
    lines = ['.. This page is written by bench/run.py: edit the script, not the page.',
             '', '===========', 'Performance', '===========', '',
             'What a request costs with :class:`~napixd.client.pool.ClientPool`, measured '
             'side by side with the libraries people use for the same job, in one run of '
             '``python bench/run.py{0}`` on the same machine and the same local servers '
             '(see ``bench/README.rst``).'.format(' --quick' if args.quick else ''), '',
             'Measured {0} on {1} ({2} CPUs), {3}; server: {4}; {5}.'.format(
                 datetime.date.today().isoformat(), cpu_model(), os.cpu_count(),
                 ', '.join('{0} {1}'.format(k, v) for k, v in versions().items()),
                 results.get('server') or '-', pinning.describe()), '',
             JSON_DECODER, '']
    if results.get('throughput'):
        lines += _throughput_section(args, results['throughput'], results.get('costs'),
                                     images)
    if results.get('stall'):
        lines += _stall_section(args, results['stall'], images)
    if results.get('seed'):
        lines += _seed_section(args, results['seed'])
    if results.get('fanout'):
        lines += _fanout_section(args, results['fanout'], images)
    if results.get('latency'):
        lines += _latency_section(results['latency'])
    path = os.path.join(DOCS, 'performance.rst')
    with open(path, 'w') as f:
        f.write('\n'.join(lines).rstrip() + '\n')
    log('wrote ' + os.path.relpath(path, ROOT))
