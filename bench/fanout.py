"""The fan-out scenarios: one request to each of many distinct hosts, ours
and aiohttp side by side (``bench/scale.py``, each run in its own process,
killed past a time limit); and the latency-bound run (hosts that answer
after 50 ms).

Run by ``bench/run.py``.
"""

import math
import os
import statistics
import sys

from common import HERE, PATH, Server, error_line, free_ports, log, run_measured

LIBRARIES = ['napix', 'aiohttp']
LABELS = {'napix': 'napixd ClientPool', 'aiohttp': 'aiohttp (limit=100)'}
#: What each run does with the answers (``bench/scale.py --answers``): keeps
#: them all until the end (``pool.wait()``), or checks and drops each.
ANSWERS = ['keep', 'drop']


def timed_out(row):
    """"timed out (N done)": how far a run killed at the time limit got."""
    if 'progress' in row:
        return 'timed out ({0:,} done)'.format(row['progress'])
    return 'timed out'


def describe(row):
    if row.get('timed_out'):
        return ('TIMED OUT after {0:.0f} s (killed), {1} answers in; peak RSS {2:.0f} MB, '
                'peak fds {3}'.format(row['wall'], row.get('progress', '?'), row['peak_rss_mb'],
                                      row['peak_fds']))
    if 'error' in row:
        return 'FAILED: {0}; peak fds {1}'.format(error_line(row['error']), row['peak_fds'])
    text = ('{0:8.3f} s ({1:5.1f} us/request)  peak RSS {2:6.1f} MB  peak fds {3:>6}  '
            'fds before/all answered/closed {4}/{5}/{6}  failures {7}'.format(
                row['seconds'], row['seconds'] / max(row['requests'], 1) * 1e6,
                row['peak_rss_mb'], row['peak_fds'], row['fds_before'], row['fds_open'],
                row['fds_after'], row['failures']))
    if row['failures']:
        text += '\n      first failure: {0}'.format(str(row['first_failure'])[:300])
    return text


def fanout(args, pinning, tmp):
    """``{answers: {hosts: {library: row}}}``: a row is what ``bench/scale.py``
    printed plus ``peak_fds``, ``peak_rss_mb`` and ``wall``, or ``timed_out`` /
    ``error``; ours's rows have ``ratio``, the median of aiohttp's time over
    ours across rounds. Within a round, the libraries take turns going first
    from one setting to the next (the sockets a run leaves in TIME_WAIT slow
    the next one's connects)."""
    ports = free_ports(8)
    server = Server(tmp, pinning, ports, prefer_nginx=not args.no_nginx)
    log('fan-out: one request per host, {0} ports of {1}; time limit {2:.0f} s per '
        'run'.format(len(ports), server.name, args.time_limit))
    runs = {}
    turn = 0
    try:
        for round_ in range(args.fanout_rounds):
            for answers in args.fanout_answers:
                for hosts in args.scale_hosts:
                    libraries = list(args.fanout_libraries)
                    if (turn + round_) % 2:
                        libraries.reverse()
                    turn += 1
                    for lib in libraries:
                        argv = pinning.client(
                            [sys.executable, os.path.join(HERE, 'scale.py'), '--answers',
                             answers, lib, str(hosts), str(args.per_host), '2', PATH] +
                            [str(p) for p in ports])
                        row = run_measured(argv, args.time_limit)
                        runs.setdefault(answers, {}).setdefault(hosts, {}).setdefault(
                            lib, []).append(row)
                        log('fan-out round {0} {1:>7} hosts  answers {2:<4}  {3:<8} {4}'.format(
                            round_ + 1, hosts, answers, lib, describe(row)))
    finally:
        server.stop()
    summary = {}
    for answers, by_hosts in runs.items():
        summary[answers] = {}
        for hosts, by_lib in by_hosts.items():
            summary[answers][hosts] = row_summary(by_lib)
    return server.name, summary


def row_summary(by_lib):
    """One row per library from its rounds: the median time, the highest peaks."""
    summary = {}
    for lib in LIBRARIES:
        rows = by_lib.get(lib)
        if not rows:
            continue
        done = [r for r in rows if 'seconds' in r]
        row = dict(done[-1] if done else rows[-1])
        if done:
            row['seconds'] = statistics.median(r['seconds'] for r in done)
            row['rounds'] = [r['seconds'] for r in done]
        row['peak_fds'] = max(r['peak_fds'] for r in rows)
        row['peak_rss_mb'] = max(r['peak_rss_mb'] for r in rows)
        summary[lib] = row
    ours, theirs = by_lib.get('napix', []), by_lib.get('aiohttp', [])
    pairs = [(o, t) for o, t in zip(ours, theirs)  # noqa: B905
             if 'seconds' in o and 'seconds' in t]
    if pairs:
        summary['napix']['ratio'] = statistics.median(
            t['seconds'] / o['seconds'] for o, t in pairs)
        summary['napix']['ratios'] = [t['seconds'] / o['seconds'] for o, t in pairs]
    return summary


def print_table(summary):
    log('')
    log('fan-out: one request to each of N hosts, one pool / one session')
    log('{0:>8} {1:<7} {2:<20} {3:>10} {4:>12} {5:>10} {6:>10} {7:>9}'.format(
        'hosts', 'answers', 'client', 'time', 'aiohttp/ours', 'peak RSS', 'peak fds',
        'failures'))
    for answers, by_hosts in summary.items():
        for hosts, by_lib in by_hosts.items():
            for lib, row in by_lib.items():
                if 'seconds' not in row:
                    state = timed_out(row) if row.get('timed_out') else 'failed'
                    log('{0:>8} {1:<7} {2:<20} {3:>10} {4:>12} {5:>7.0f} MB {6:>10} '
                        '{7:>9}'.format(hosts, answers, LABELS[lib], state, '-',
                                        row['peak_rss_mb'], row['peak_fds'], '-'))
                    continue
                log('{0:>8} {1:<7} {2:<20} {3:>8.2f} s {4:>12} {5:>7.0f} MB {6:>10} '
                    '{7:>9}'.format(hosts, answers, LABELS[lib], row['seconds'],
                                    '{0:.2f}x'.format(row['ratio']) if 'ratio' in row else '',
                                    row['peak_rss_mb'], row['peak_fds'], row['failures']))
    log('')


def latency_run(args, pinning, tmp):
    """500 hosts answering after 50 ms, 4 requests each, through our pool."""
    ports = free_ports(4)
    delay = 0.05
    server = Server(tmp, pinning, ports, delay=delay)
    try:
        argv = pinning.client([sys.executable, os.path.join(HERE, 'scale.py'), 'napix',
                               str(args.latency_hosts), '4', '2', PATH] +
                              [str(p) for p in ports])
        row = run_measured(argv, args.time_limit)
    finally:
        server.stop()
    if 'seconds' not in row:
        log('latency-bound: ' + describe(row))
        return server.name, None
    row['ideal_latency'] = math.ceil(4 / 2) * delay
    row['ideal'] = row['ideal_latency'] + row['cpu']
    log('latency-bound: {0} hosts x 4 requests answered after 50 ms, simultaneous=2: '
        '{1:.3f} s; ideal ceil(4/2) x 50 ms + {2:.3f} s CPU = {3:.3f} s -> {4:.2f}x ideal; '
        'failures: {5}'.format(args.latency_hosts, row['seconds'], row['cpu'], row['ideal'],
                               row['seconds'] / row['ideal'], row['failures']))
    return server.name, row
