#!/usr/bin/env python3
"""Slow HTTP clients (slowloris) for the listener tests.

Opens N connections spread over loopback source addresses, sends a request line and then
one header byte per second, never finishing the headers; a connection closed by the server
is opened again after a short pause. Writes "attempts=A open=O closed=C" to the status file
twice a second and stops after the given duration (a bound, the test normally kills it).

usage: slow_clients.py HOST PORT N SOURCES STATUS_FILE SECONDS
       SOURCES: comma-separated source addresses, e.g. 127.0.0.2,127.0.0.3
"""
import asyncio
import sys

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sources = sys.argv[4].split(",")
status_file, seconds = sys.argv[5], float(sys.argv[6])
stats = {"attempts": 0, "open": 0, "closed": 0}


async def client(i):
    src = sources[i % len(sources)]
    while True:
        stats["attempts"] += 1
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(src, 0))
        except OSError:
            await asyncio.sleep(0.5)
            continue
        stats["open"] += 1
        try:
            writer.write(b"POST /api/v1/alertmanager HTTP/1.1\r\nHost: gw\r\n")
            await writer.drain()
            while True:
                # The server closing us shows as EOF: wait for it at most a second.
                try:
                    data = await asyncio.wait_for(reader.read(1), timeout=1.0)
                    if not data:
                        break
                except asyncio.TimeoutError:
                    pass
                writer.write(b"X")
                await writer.drain()
        except OSError:
            pass
        finally:
            stats["open"] -= 1
            stats["closed"] += 1
            writer.close()
        await asyncio.sleep(0.5)


async def report():
    while True:
        with open(status_file + ".tmp", "w") as f:
            f.write("attempts=%(attempts)d open=%(open)d closed=%(closed)d\n" % stats)
        import os
        os.replace(status_file + ".tmp", status_file)
        await asyncio.sleep(0.5)


async def main():
    tasks = [asyncio.create_task(client(i)) for i in range(n)]
    tasks.append(asyncio.create_task(report()))
    await asyncio.sleep(seconds)
    for t in tasks:
        t.cancel()


asyncio.run(main())
