"""Simulation accounts: a default account plus accounts dedicated to named strategies.

``[accounts.default]`` is the account every strategy trades on unless a
``[[accounts.simulation]]`` entry lists it under ``strategies``. The simulated exchange builds
one account per entry from this configuration.

This module is the leaf of the config package, so it also holds the two building blocks every
config section shares: `ConfigModel` (frozen, unknown keys rejected) and `ExactDecimal`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    model_validator,
)

from ticklane.core.errors import ConfigError

__all__ = [
    "AccountConfig",
    "AccountsConfig",
    "ConfigModel",
    "ExactDecimal",
    "SimulationAccountConfig",
    "dotted_key",
    "to_exact_decimal",
]


class ConfigModel(BaseModel):
    """Base of every configuration section: immutable, and unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_DECIMAL_ALLOWED = 'must be a decimal number written as a string such as "10000", or an integer'


def to_exact_decimal(value: object) -> Decimal:
    """Convert a config value to an exact `Decimal`, never passing through binary floats.

    Strings and integers convert exactly. A TOML float has already been parsed to a binary
    float, so it is converted through ``Decimal(str(value))``: `str` gives the shortest text
    that reads back as the same float, which is the text written in the file for up to 15
    significant digits (``10000.0`` -> ``Decimal("10000.0")``). Write money as a string to be
    exact beyond that.
    """
    if isinstance(value, bool):
        raise ValueError(_DECIMAL_ALLOWED)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(str(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(_DECIMAL_ALLOWED) from None
    else:
        raise ValueError(_DECIMAL_ALLOWED)
    if not result.is_finite():
        raise ValueError(_DECIMAL_ALLOWED + " (not NaN or Infinity)")
    return result


ExactDecimal = Annotated[Decimal, BeforeValidator(to_exact_decimal)]


def _check_identifier(value: str) -> str:
    if not value or value != value.strip() or any(ch.isspace() for ch in value):
        raise ValueError("must be a non-empty string without spaces")
    return value


def _check_currency(value: str) -> str:
    if not (2 <= len(value) <= 12 and value.isascii() and value.isalnum() and value.isupper()):
        raise ValueError("must be a currency code of 2-12 upper-case letters or digits, e.g. USDT")
    return value


def _check_strategies(value: tuple[str, ...]) -> tuple[str, ...]:
    for name in value:
        _check_identifier(name)
    repeated = sorted({name for name in value if value.count(name) > 1})
    if repeated:
        raise ValueError(f"must list each strategy once; repeated: {', '.join(repeated)}")
    return value


Identifier = Annotated[StrictStr, AfterValidator(_check_identifier)]
CurrencyCode = Annotated[StrictStr, AfterValidator(_check_currency)]


class AccountConfig(ConfigModel):
    """One simulated account.

    Options:
        id: account id, unique across all accounts (``"SIM-001"``).
        currency: settlement currency code (``"USDT"``).
        initial_balance: starting cash, an exact decimal >= 0; write it as a string.
    """

    id: Identifier
    currency: CurrencyCode
    initial_balance: ExactDecimal = Field(ge=0)


class SimulationAccountConfig(AccountConfig):
    """A simulated account dedicated to the strategies listed in ``strategies``."""

    strategies: Annotated[tuple[StrictStr, ...], AfterValidator(_check_strategies)] = ()


def _default_account() -> AccountConfig:
    return AccountConfig(id="SIM-001", currency="USDT", initial_balance=Decimal("100000"))


class AccountsConfig(ConfigModel):
    """The default account and the per-strategy simulation accounts.

    Options:
        default: the account of every strategy not listed by a simulation account.
        simulation: accounts with the strategies that trade on them; a strategy may appear in
            at most one of them, and account ids are unique across all accounts.
    """

    default: AccountConfig = Field(default_factory=_default_account)
    simulation: tuple[SimulationAccountConfig, ...] = ()

    @model_validator(mode="after")
    def _ids_and_strategies_unique(self) -> AccountsConfig:
        seen_ids: set[str] = set()
        for account_id in self.all_account_ids():
            if account_id in seen_ids:
                raise ValueError(f"account id {account_id!r} is used by more than one account")
            seen_ids.add(account_id)
        owner: dict[str, str] = {}
        for account in self.simulation:
            for strategy in account.strategies:
                if strategy in owner:
                    raise ValueError(
                        f"strategy {strategy!r} is assigned to both {owner[strategy]!r} and "
                        f"{account.id!r}; a strategy may use at most one simulation account"
                    )
                owner[strategy] = account.id
        return self

    @classmethod
    def with_default(
        cls, account_id: str, currency: str, initial_balance: Decimal | int | str
    ) -> AccountsConfig:
        """A new configuration holding only the given default account."""
        return _build(
            {
                "default": {
                    "id": account_id,
                    "currency": currency,
                    "initial_balance": initial_balance,
                },
            }
        )

    def add_simulation_account(
        self,
        account_id: str,
        currency: str,
        initial_balance: Decimal | int | str,
        strategies: Iterable[str] = (),
    ) -> AccountsConfig:
        """A new configuration with one more simulation account; this one is unchanged."""
        new_account = {
            "id": account_id,
            "currency": currency,
            "initial_balance": initial_balance,
            "strategies": tuple(strategies),
        }
        return _build({"default": self.default, "simulation": (*self.simulation, new_account)})

    def account_for_strategy(self, strategy_id: str) -> str:
        """The id of the account `strategy_id` trades on: its simulation account, or the default."""
        for account in self.simulation:
            if strategy_id in account.strategies:
                return account.id
        return self.default.id

    def all_account_ids(self) -> tuple[str, ...]:
        """Every account id, the default first, then simulation accounts in file order."""
        return (self.default.id, *(account.id for account in self.simulation))

    def all_accounts(self) -> tuple[AccountConfig, ...]:
        """Every account, the default first, then simulation accounts in file order."""
        return (self.default, *self.simulation)


def dotted_key(loc: Iterable[int | str]) -> str:
    """Render a validation location as the key a user writes: ``accounts.simulation[1].id``."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return key


def _build(data: dict[str, object]) -> AccountsConfig:
    """Validate builder input, turning pydantic's error into a `ConfigError` naming the key."""
    try:
        return AccountsConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = dotted_key(("accounts", *error["loc"]))
            problems.append(f"{key}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid accounts configuration: " + "; ".join(problems)) from None
