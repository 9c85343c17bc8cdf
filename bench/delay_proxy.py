#!/usr/bin/env python3
"""A TCP relay on 127.0.0.1 that adds a fixed delay to each direction.

    python3 bench/delay_proxy.py LISTEN_PORT TARGET_PORT DELAY_MS [CAP_BYTES]

Every chunk read from one side is written to the other DELAY_MS after it was
read, in the order it was read (one FIFO per direction), so a round trip
through the relay takes at least twice DELAY_MS. It stands in for a long
link without touching the host's network devices (bench/files.sh).

The relay reads eagerly, so the endpoints' own TCP windows never see the
delay; what limits a transfer is the window of the protocol on top (credit,
outstanding requests), as on a long link with large TCP windows. To keep
that bound honest, at most CAP_BYTES (default: the largest TCP receive
window Linux allows here, net.ipv4.tcp_rmem) are in flight per direction:
beyond that the relay stops reading until the oldest bytes are delivered.
TCP slow start and losses are not modelled, so the figures are an upper
bound for a real link of that delay.

Prints "listening" on standard output once it accepts connections; stops
on SIGTERM or SIGINT.
"""

import asyncio
import collections
import signal
import socket
import sys

CHUNK = 256 * 1024


def default_cap():
    try:
        with open("/proc/sys/net/ipv4/tcp_rmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 6 * 1024 * 1024


class Pipe:
    """One direction: a reader that stamps chunks, a writer that waits for
    each stamp plus the delay before writing it."""

    def __init__(self, reader, writer, delay, cap):
        self.reader = reader
        self.writer = writer
        self.delay = delay
        self.cap = cap
        self.queue = collections.deque()  # (due time, bytes); empty bytes = EOF
        self.queued = 0
        self.ready = asyncio.Event()  # something is queued
        self.room = asyncio.Event()  # queued is below the cap
        self.room.set()

    async def pump_in(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self.room.wait()
                data = await self.reader.read(CHUNK)
                self.queue.append((loop.time() + self.delay, data))
                self.queued += len(data)
                if self.queued >= self.cap:
                    self.room.clear()
                self.ready.set()
                if not data:
                    return
        except (ConnectionError, OSError):
            self.queue.append((loop.time(), b""))
            self.ready.set()

    async def pump_out(self):
        loop = asyncio.get_running_loop()
        while True:
            await self.ready.wait()
            due, data = self.queue[0]
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self.queue.popleft()
            if not self.queue:
                self.ready.clear()
            if not data:
                if self.writer.can_write_eof():
                    self.writer.write_eof()
                return
            self.writer.write(data)
            await self.writer.drain()
            self.queued -= len(data)
            if self.queued < self.cap:
                self.room.set()


async def relay(target_port, delay, cap, c_reader, c_writer):
    try:
        s_reader, s_writer = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        c_writer.close()
        return
    for w in (c_writer, s_writer):
        w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    up = Pipe(c_reader, s_writer, delay, cap)
    down = Pipe(s_reader, c_writer, delay, cap)
    tasks = [asyncio.ensure_future(t) for t in
             (up.pump_in(), up.pump_out(), down.pump_in(), down.pump_out())]
    try:
        # Both directions finish (EOF delivered) or one side breaks.
        await asyncio.gather(*tasks)
    except (ConnectionError, OSError, asyncio.CancelledError):
        pass  # a broken side, or the relay stopping with connections open
    finally:
        for t in tasks:
            t.cancel()
        for w in (c_writer, s_writer):
            w.close()


async def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__.split("\n\n")[1])
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    delay = int(sys.argv[3]) / 1000.0
    cap = int(sys.argv[4]) if len(sys.argv) == 5 else default_cap()
    server = await asyncio.start_server(
        lambda r, w: relay(target_port, delay, cap, r, w), "127.0.0.1", listen_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("listening", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
