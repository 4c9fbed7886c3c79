"""Splitting an amount into parts that always sum to it exactly."""


def split_proportionally(total: int, weights: list[int]) -> list[int]:
    """Split `total` minor units in proportion to `weights`, losing no cent.

    Each part is first rounded down; the cents left over go one each to the parts with the
    largest remainders, ties broken by position (earlier first), so the result is
    deterministic and `sum(parts) == total` always.
    """
    if total < 0 or any(weight < 0 for weight in weights):
        raise ValueError("amounts and weights must not be negative")
    whole = sum(weights)
    if whole == 0:
        raise ValueError("at least one weight must be positive")
    parts = [total * weight // whole for weight in weights]
    remainders = [total * weight % whole for weight in weights]
    left_over = total - sum(parts)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left_over]:
        parts[index] += 1
    return parts
