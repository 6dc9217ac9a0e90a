#!/usr/bin/env python3
"""One rank of the gloo all-reduce peer of `npm run bench`: PyTorch's CPU collective backend (the
one DDP uses on CPUs), all-reducing float32 tensors of the same sizes as the ring, between
processes on this host.

Usage: gloo_allreduce.py --rank R --world N --port P --sizes BYTES,BYTES --warmup W --repeats K
Rank 0 hosts the TCP store on 127.0.0.1:P (torch.distributed's env-free tcp:// init). One timed
iteration = dist.all_reduce (sum) + division by N in place, i.e. a mean, as DDP averages gradients.
Prints one JSON line: {"torch": version, "rank": R, "times": [[ms, ...] per size]}.
"""
import argparse
import json
import time
from datetime import timedelta

import torch
import torch.distributed as dist


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--rank', type=int, required=True)
    p.add_argument('--world', type=int, required=True)
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--sizes', required=True)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--timeout', type=float, default=60.0)
    a = p.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{a.port}', rank=a.rank, world_size=a.world, timeout=timedelta(seconds=a.timeout))
    out = []
    for size in (int(s) for s in a.sizes.split(',')):
        t = torch.full((size // 4,), float(a.rank + 1), dtype=torch.float32)
        times = []
        for i in range(a.warmup + a.repeats):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(t)
            t.div_(a.world)
            if i >= a.warmup:
                times.append((time.perf_counter() - t0) * 1000)
        out.append(times)
    dist.destroy_process_group()
    print(json.dumps({'torch': torch.__version__, 'rank': a.rank, 'times': out}), flush=True)


if __name__ == '__main__':
    main()
