# Accepts per 100 ms window after a 1012 restart, one line per reconnect policy.
# Each window is drawn as a flat step across its 100 ms (histeps at the centre).
# Called by run.sh: gnuplot -e "dir='DATA_DIR'; out='PNG'" plot.gp
set terminal pngcairo size 1100,520 font ",10"
set output out
set title "Reconnect storm: 1,000 clients, server closes all with 1012, is down 1 s, accepts again"
set xlabel "time since the 1012 (ms)"
set ylabel "accepts per 100 ms window"
set logscale y
set yrange [0.8:*]
set grid
set key top right
plot dir."/storm-immediate.dat" using ($1+50):($2>0?$2:1/0) with histeps lw 2 title "immediate reconnect", \
     dir."/storm-exponential.dat" using ($1+50):($2>0?$2:1/0) with histeps lw 2 title "exponential 100 ms*2^n, cap 10 s, no jitter", \
     dir."/storm-default.dat" using ($1+50):($2>0?$2:1/0) with histeps lw 2 title "closewise default (1012: 500 ms + U(0, 5 s))"
