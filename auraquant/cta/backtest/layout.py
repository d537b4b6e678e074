"""Index layout of the kernel's flat parameter, metric and trade arrays, and the code tables.

One owner for these integers: the kernel, the preparer, the reference engine (tests) and the result
decoder all import them from here.
"""

from __future__ import annotations

# float parameters per parameter set (NaN = feature off)
F_SL_PCT, F_TP_PCT, F_SL_ATR, F_TP_ATR, F_TRAIL_PCT, F_TRAIL_ATR, F_TIME_STOP = range(7)
F_FRACTION, F_TARGET_VOL, F_LEV_CAP, F_DD_MAX, F_DD_HALT, F_COOLDOWN = range(7, 13)
N_FPARAMS = 13
SLOT_TO_F = {"sl_pct": F_SL_PCT, "tp_pct": F_TP_PCT, "sl_atr": F_SL_ATR, "tp_atr": F_TP_ATR,
             "trail_pct": F_TRAIL_PCT, "trail_atr": F_TRAIL_ATR, "time_stop": F_TIME_STOP,
             "fraction": F_FRACTION, "target_vol": F_TARGET_VOL, "leverage_cap": F_LEV_CAP,
             "dd_max": F_DD_MAX, "dd_halt": F_DD_HALT, "cooldown": F_COOLDOWN}

# int parameters per set: rows of the candidate pool, the allow-mask pool and the series pool
I_SIG, I_ALLOW, I_STOP_ATR, I_TRAIL_ATR, I_VOL = range(5)
N_IPARAMS = 5
SERIES_TO_I = {"stop_atr": I_STOP_ATR, "trail_atr": I_TRAIL_ATR, "vol": I_VOL}

# engine settings codes
FILL_NEXT_OPEN, FILL_SAME_CLOSE = 0, 1
FILL_CODES = {"next_open": FILL_NEXT_OPEN, "same_close": FILL_SAME_CLOSE}
POLICY_STOP_FIRST, POLICY_OHLC_PATH, POLICY_CANDLE_COLOR = 0, 1, 2
POLICY_CODES = {"stop_first": POLICY_STOP_FIRST, "ohlc_path": POLICY_OHLC_PATH,
                "candle_color": POLICY_CANDLE_COLOR}
SIDES_CODES = {"both": 0, "long": 1, "short": -1}

# allow-mask bits
ALLOW_LONG, ALLOW_SHORT = 1, 2

# exit reasons
EXIT_SIGNAL, EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, EXIT_TRAILING, EXIT_TIME, EXIT_RUIN = 1, 2, 3, 4, 5, 6
EXIT_REASONS = {EXIT_SIGNAL: "signal", EXIT_STOP_LOSS: "stop_loss", EXIT_TAKE_PROFIT: "take_profit",
                EXIT_TRAILING: "trailing_stop", EXIT_TIME: "time_stop", EXIT_RUIN: "ruin"}

# risk decision codes (-1 = no decision at that bar)
RISK_APPROVED, RISK_COOLDOWN, RISK_DD_HALT, RISK_NO_VOL, RISK_ZERO_SIZE, RISK_NAV = 0, 1, 2, 3, 4, 5
RISK_REASONS = {RISK_APPROVED: "approved", RISK_COOLDOWN: "cooldown after loss",
                RISK_DD_HALT: "drawdown breaker halt", RISK_NO_VOL: "volatility estimate undefined",
                RISK_ZERO_SIZE: "size is zero", RISK_NAV: "NAV is not positive"}

# trade record columns
T_ENTRY_BAR, T_EXIT_BAR, T_SIDE, T_QTY, T_ENTRY_PRICE, T_EXIT_PRICE, T_PNL, T_FEES, T_REASON, T_NOTIONAL = (
    range(10))
N_TRADE_FIELDS = 10

# metric vector: one named index per metric (the kernel writes, and every reader reads, by these names)
M_TOTAL_RETURN, M_ANN_RETURN, M_ANN_VOLATILITY, M_SHARPE, M_SORTINO, M_CALMAR, M_MAX_DRAWDOWN = range(7)
M_TRADES, M_WIN_RATE, M_PROFIT_FACTOR, M_EXPECTANCY, M_AVG_TRADE_RETURN, M_EXPOSURE, M_TURNOVER = range(7, 14)
M_VAR_95, M_CVAR_95, M_DAILY_MEAN, M_DAILY_STD, M_SKEW, M_KURTOSIS = range(14, 20)
M_N_DAYS, M_YEARS, M_FINAL_NAV, M_FINAL_POSITION, M_RUINED, M_RUIN_BAR = range(20, 26)
METRIC_NAMES = ("total_return", "ann_return", "ann_volatility", "sharpe", "sortino", "calmar",
                "max_drawdown", "trades", "win_rate", "profit_factor", "expectancy", "avg_trade_return",
                "exposure", "turnover", "var_95", "cvar_95", "daily_mean", "daily_std", "skew",
                "kurtosis", "n_days", "years", "final_nav", "final_position", "ruined", "ruin_bar")
M = {name: i for i, name in enumerate(METRIC_NAMES)}
"""name -> index, for code that selects metrics by name at run time (the constants above are the same)."""
N_METRICS = len(METRIC_NAMES)

# Trade statistics a portfolio member's run adds into its portfolio (the kernel's trade sink), pnl and turnover
# scaled by the member's weight; S_OPEN counts members still holding at the end.
S_TRADES, S_WINS, S_GROSS_PROFIT, S_GROSS_LOSS, S_PNL, S_RET, S_TRADED, S_OPEN = range(8)
N_SINK_STATS = 8
