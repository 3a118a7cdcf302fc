# The R path of the recurrence, used only when an activation is an R
# function (the engine cannot call back into R per step). It follows the same
# semantics as src/gru/forward.cpp and computes in float64. What the R functions
# return is checked at every step (call_user_fn()).
gru_forward_r <- function(x, w, cfg, act, ract, mask, h0, drop, call = NULL) {
  d <- dim(x)
  b <- d[1L]
  n_steps <- d[2L]
  f <- d[3L]
  units <- cfg$units
  a <- layer_activation_function(act, "activation", cfg$name, call)
  ra <- layer_activation_function(ract, "recurrent_activation", cfg$name, call)
  idx <- function(g) ((g - 1L) * units + 1L):(g * units)
  kernel <- w$kernel
  rk <- w$recurrent_kernel
  reset_after <- isTRUE(cfg$reset_after)
  bias_in <- bias_rec <- rep(0, 3L * units)
  if (!is.null(w$bias)) {
    if (reset_after) {
      bias_in <- w$bias[1L, ]
      bias_rec <- w$bias[2L, ]
    } else {
      bias_in <- as.numeric(w$bias)
    }
  }
  gate_mask <- function(m, gates, g, n) {
    if (is.null(m)) return(1)
    block <- if (gates == 3L) g else 1L
    matrix(m[((block - 1L) * b * n + 1L):(block * b * n)], b, n)
  }
  h <- if (is.null(h0)) matrix(0, b, units) else h0
  seq_out <- array(0, c(b, n_steps, units))
  last <- NULL
  for (k in seq_len(n_steps)) {
    t <- if (isTRUE(cfg$go_backwards)) n_steps - k + 1L else k
    xt <- matrix(x[, t, ], b, f)
    xp <- function(g) {
      (xt * gate_mask(drop$input, drop$input_gates, g, f)) %*% kernel[, idx(g), drop = FALSE] +
        rep(bias_in[idx(g)], each = b)
    }
    hs <- function(g) h * gate_mask(drop$recurrent, drop$recurrent_gates, g, units)
    hu <- function(g, state = hs(g)) {
      state %*% rk[, idx(g), drop = FALSE] + rep(bias_rec[idx(g)], each = b)
    }
    z <- ra(xp(1L) + hu(1L))
    r <- ra(xp(2L) + hu(2L))
    hh <- if (reset_after) a(xp(3L) + r * hu(3L)) else a(xp(3L) + hu(3L, r * hs(3L)))
    h_new <- z * h + (1 - z) * hh
    out <- h_new
    if (!is.null(mask)) {
      keep <- mask[, t]
      h_new[!keep, ] <- h[!keep, ]
      out <- h_new
      if (isTRUE(cfg$zero_output_for_mask)) out[!keep, ] <- 0
    }
    seq_out[, k, ] <- out
    last <- out
    h <- h_new
  }
  output <- if (isTRUE(cfg$return_sequences)) seq_out else matrix(last, b, units)
  list(output = output, state = matrix(h, b, units))
}
