module yocho/bench

go 1.26.8

replace yocho => ../

require github.com/netsampler/goflow2/v2 v2.2.6 // indirect
