"""A figure's samples as a PNG: each sample, the median, the floor or ceiling, and the
baseline's samples beside them where there is one (matplotlib, no display needed)."""

import io


def samples_png(figure, limits, baseline=None):
    """PNG bytes of figure's samples (and baseline's) with its limits drawn across."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    fig, axes = pyplot.subplots(figsize=(6, 3), dpi=100)
    try:
        series = [("this run", figure.samples, "tab:blue")]
        if baseline is not None:
            series.insert(0, ("baseline", baseline.samples, "tab:gray"))
        for position, (label, values, colour) in enumerate(series):
            axes.scatter([position] * len(values), values, color=colour, alpha=0.7)
            axes.hlines(sorted(values)[len(values) // 2], position - 0.3, position + 0.3,
                        color=colour)
        for value, label in ((limits.floor, "floor"), (limits.ceiling, "ceiling")):
            if value is not None:
                axes.axhline(value, color="tab:red", linestyle="--", label=label)
        axes.set_xticks(range(len(series)), [label for label, _, _ in series])
        axes.set_xlim(-0.7, len(series) - 0.3)
        axes.set_ylabel(figure.unit)
        axes.set_title(figure.name, fontsize=9)
        if limits.floor is not None or limits.ceiling is not None:
            axes.legend(fontsize=8)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()
    finally:
        pyplot.close(fig)
