"""Truncates the journal lifeline is writing (its path is argv[1], to the size argv[2] names), then
goes on allocating: the agent's next block lies past the file's new end."""
import os
import sys

path, size = sys.argv[1], sys.argv[2]
kept = [str(i) * 3 for i in range(300_000)]  # a few megabytes of journal, read while it is written
os.truncate(path, 4096 if size == "page" else os.path.getsize(path) // 2)
more = [str(i) for i in range(300_000)]
print("survived")
