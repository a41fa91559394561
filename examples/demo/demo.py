"""lifeline demo: an inventory report over a fleet of widgets.

Run it under lifeline (from the top of the repository, after `make`):

    make demo

or by hand:

    PYTHONPATH=build/examples build/lifeline run -- /usr/bin/python3.11 examples/demo/demo.py

Under the plain interpreter this script dies with a segmentation fault in heaviest(),
a function that has no bug. examples/README.md explains what really happened.
"""
import widgets

FLEET_SIZE = 4
SAMPLES = 200_000   # 1.6 MB of samples per widget


def load_fleet():
    # The list is the only owner of the widgets: nothing else keeps a reference to them.
    return [widgets.Widget(f"sensor-{i}", SAMPLES) for i in range(FLEET_SIZE)]


def summarize(fleet):
    total = widgets.total_weight(fleet)    # right answer, but drops a reference it never owned
    best = widgets.heaviest(fleet)         # walks the same list again: its widgets are gone
    return total, best


def main():
    fleet = load_fleet()
    print(f"loaded {len(fleet)} widgets", flush=True)
    total, best = summarize(fleet)
    print(f"total weight {total:.3f}; heaviest is {best.name}", flush=True)


if __name__ == "__main__":
    main()
