import json,statistics as st,collections
ours=collections.defaultdict(list); geo=collections.defaultdict(list)
for line in open('compare-ours.txt'):
    v,j=line.split(' ',1); d=json.loads(j); r=d['ingest_per_s']
    ours[v].append((r, d['server_cpu_pct']*1e4/r, d['postgres_cpu_pct']*1e4/r, d['generator_cpu_pct']*1e4/r, d['machine_busy_pct']))
for line in open('geoadd.txt'):
    v,j=line.split(' ',1); d=json.loads(j); geo[v].append(d.get('redis_geoadd_per_s') or d.get('geoadd_per_s') or list(d.values())[0])
for v in sorted(ours):
    rows=ours[v]
    print(v,'rates',[int(r[0]) for r in rows],'median',st.median(r[0] for r in rows))
    print('  server us/rep',[round(r[1],1) for r in rows],'median',round(st.median(r[1] for r in rows),1))
    print('  pg us/rep',[round(r[2],1) for r in rows],'median',round(st.median(r[2] for r in rows),1))
    print('  gen us/rep',[round(r[3],1) for r in rows],'median',round(st.median(r[3] for r in rows),1))
    print('  busy',[r[4] for r in rows])
    g=geo[v]; print('  geoadd',g)
    if len(g)==len(rows): print('  ratios',[round(a[0]/b,2) for a,b in zip(rows,g)],'median',round(st.median(a[0]/b for a,b in zip(rows,g)),3))
